//! Start-up refusals: a wrong or missing master key over existing data, and an
//! unreachable database, each as one clear error with no secret in it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use idp_server::app::{Core, StartupError};
use idp_tests::{Backend, TestEnv, both_backends};

both_backends!(wrong_or_missing_master_key_is_refused_over_existing_data);

async fn wrong_or_missing_master_key_is_refused_over_existing_data(backend: Backend) {
    let env = TestEnv::new(backend);
    drop(Core::init(env.config(), None).await.unwrap());
    let key_file = env.master_key_path();
    let original = std::fs::read(&key_file).unwrap();

    let other = STANDARD.encode([7u8; 32]);
    let err = Core::init(env.config(), Some(other)).await.err().unwrap();
    assert!(matches!(err, StartupError::MasterKeyMismatch), "{err}");

    std::fs::write(&key_file, [1u8; 32]).unwrap();
    let err = Core::init(env.config(), None).await.err().unwrap();
    assert!(matches!(err, StartupError::MasterKeyMismatch), "{err}");

    std::fs::remove_file(&key_file).unwrap();
    let err = Core::init(env.config(), None).await.err().unwrap();
    assert!(
        err.to_string()
            .contains("is missing but the database holds data"),
        "{err}"
    );
    assert!(
        !key_file.exists(),
        "no new key generated over encrypted data"
    );

    std::fs::write(&key_file, &original).unwrap();
    assert!(
        Core::init(env.config(), None).await.is_ok(),
        "the right key works again"
    );
}

#[tokio::test]
async fn unreachable_database_is_reported_without_its_password() {
    let env = TestEnv::new(Backend::Embedded);
    let mut config = env.config();
    config.database.url = "postgres://sesame:hunter2@127.0.0.1:1/sesame".to_owned();
    config.database.acquire_timeout_ms = 300;
    let err = Core::init(config, None).await.err().unwrap().to_string();
    assert!(err.contains("database unavailable"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!err.contains('\n'), "{err}");
}
