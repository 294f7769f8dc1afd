//! A minimal browser for driving the IdP's pages: keeps cookies, never
//! follows redirects on its own, and reads hidden form fields.

use std::collections::HashMap;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

#[derive(Clone)]
pub struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
    /// Value sent as Accept-Language.
    pub language: String,
    /// Sent as X-Forwarded-For when set (a client behind a trusted proxy).
    pub forwarded_for: Option<String>,
}

/// A response with its body read.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// Value of the input `name` in the page (attributes in any order).
    pub fn field(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\"");
        let mut rest = self.body.as_str();
        while let Some(pos) = rest.find(&needle) {
            let tag_start = rest[..pos].rfind('<')?;
            let tag_end = pos + rest[pos..].find('>')?;
            let tag = &rest[tag_start..tag_end];
            if tag.starts_with("<input") {
                let start = tag.find("value=\"")? + 7;
                let end = tag[start..].find('"')? + start;
                return Some(html_unescape(&tag[start..end]));
            }
            rest = &rest[tag_end..];
        }
        None
    }

    /// Form fields of a form_post page.
    pub fn hidden_fields(&self) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        let mut rest = self.body.as_str();
        while let Some(pos) = rest.find("<input type=\"hidden\" name=\"") {
            rest = &rest[pos + 27..];
            let Some(name_end) = rest.find('"') else {
                break;
            };
            let name = rest[..name_end].to_owned();
            let Some(value_pos) = rest.find("value=\"") else {
                break;
            };
            let value_rest = &rest[value_pos + 7..];
            let Some(value_end) = value_rest.find('"') else {
                break;
            };
            fields.push((name, html_unescape(&value_rest[..value_end])));
            rest = &value_rest[value_end..];
        }
        fields
    }
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            base: base.to_owned(),
            cookies: HashMap::new(),
            language: "fr-FR,fr;q=0.9".to_owned(),
            forwarded_for: None,
        }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    pub fn forget_cookies(&mut self) {
        self.cookies.clear();
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let mut request = request.header("Accept-Language", &self.language);
        if let Some(address) = &self.forwarded_for {
            request = request.header("X-Forwarded-For", address);
        }
        let request = self.with_cookies(request);
        let response = request.send().await.expect("request");
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap_or("");
            let pair = text.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                let removed = value.is_empty() || text.to_ascii_lowercase().contains("max-age=0");
                if removed {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_owned(), value.to_owned());
                }
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| self.absolute(l));
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            location,
            headers,
            body,
        }
    }

    /// A JSON POST with extra headers (fetch-style calls of page scripts).
    pub async fn post_json(
        &mut self,
        url: &str,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = self.http.post(self.absolute(url)).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// GET of a streaming response (Server-Sent Events), with the cookies;
    /// the caller reads the body as it arrives.
    pub async fn get_stream(&mut self, url: &str) -> reqwest::Response {
        self.with_cookies(self.http.get(self.absolute(url)))
            .send()
            .await
            .expect("request")
    }

    /// The request with this browser's cookies.
    fn with_cookies(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.cookies.is_empty() {
            return request;
        }
        let header: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        request.header(COOKIE, header.join("; "))
    }

    /// GET returning the raw body (binary content), with the session cookies.
    pub async fn get_bytes(&mut self, url: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let response = self
            .with_cookies(self.http.get(self.absolute(url)))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            headers,
            response.bytes().await.unwrap_or_default().to_vec(),
        )
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let request = self.http.get(self.absolute(url));
        self.send(request).await
    }

    /// A multipart form: text fields and files (field name, file name, bytes).
    pub async fn post_multipart(
        &mut self,
        url: &str,
        fields: &[(&str, &str)],
        files: Vec<(&str, &str, Vec<u8>)>,
    ) -> Page {
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        for (name, file_name, bytes) in files {
            form = form.part(
                name.to_string(),
                reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string()),
            );
        }
        let request = self.http.post(self.absolute(url)).multipart(form);
        self.send(request).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        self.post_with(url, form, &[]).await
    }

    /// A form POST with extra headers (as sent through a reverse proxy).
    pub async fn post_with(
        &mut self,
        url: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = self.http.post(self.absolute(url)).form(form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }
}
