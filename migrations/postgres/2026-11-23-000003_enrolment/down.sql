DROP TABLE review_media;
DROP TABLE verification_requests;
DROP TABLE documents;
