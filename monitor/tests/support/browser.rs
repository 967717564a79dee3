//! A headless Chromium driven over W3C WebDriver, for tests of the monitor's dashboard: starts
//! Debian's `chromedriver` on a free loopback port with a fresh profile and offers navigate,
//! script, wait and screenshot helpers. It serves nothing itself: tests start their own server
//! and point the browser at it. Include it with
//! `#[path = "../support/browser.rs"] mod browser;`.
//!
//! Missing Chromium is a test failure that says how to install it, never a silent skip.
#![allow(dead_code)] // each test binary uses the helpers it needs

use base64::Engine as _;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL: &str = "install them with `apt-get install -y chromium chromium-driver` (as root; \
                       Debian's packages, the versions must match)";

/// How long chromedriver may take to answer `/status` and to open a session.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How often [`Browser::wait_until`] asks again.
const POLL: Duration = Duration::from_millis(50);

/// One Chromium session and the chromedriver that runs it; both go away on drop.
#[derive(Debug)]
pub(crate) struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    http: reqwest::Client,
    /// Holds the profile (`--user-data-dir`) and chromedriver's log.
    dir: PathBuf,
}

impl Browser {
    /// Starts chromedriver and opens a headless Chromium session (1400×1000).
    ///
    /// # Panics
    /// When Chromium or chromedriver is not installed (saying how to install them), or when
    /// they do not start (with chromedriver's log).
    pub(crate) async fn start() -> Self {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(binary).exists(),
                "{binary} not found: the dashboard tests drive a real headless Chromium; {INSTALL}"
            );
        }
        let dir = unique_dir();
        std::fs::create_dir_all(dir.join("profile")).expect("create the browser's temp dir");
        let log = std::fs::File::create(dir.join("chromedriver.log")).expect("create the log");
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            // Its own process group, which Chromium joins: see `kill_group`.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {CHROMEDRIVER}: {error}; {INSTALL}"));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("build the WebDriver client");
        let mut browser = Self {
            driver,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            session: String::new(),
            http,
            dir,
        };
        browser.wait_for_driver().await;
        browser.session = browser.new_session().await;
        browser
    }

    async fn wait_for_driver(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited with {status}:\n{}", self.log_tail());
            }
            let ready = self
                .http
                .get(format!("http://{}/status", self.addr))
                .send()
                .await
                .ok()
                .filter(|response| response.status().is_success());
            if let Some(response) = ready
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == json!(true)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready on {} within {START_TIMEOUT:?}:\n{}",
                self.addr,
                self.log_tail()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn new_session(&self) -> String {
        let profile = self.dir.join("profile");
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "timeouts": { "script": 10_000, "pageLoad": 30_000 },
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--window-size=1400,1000",
                            format!("--user-data-dir={}", profile.display()),
                        ],
                    },
                },
            },
        });
        let url = format!("http://{}/session", self.addr);
        let response = self.http.post(&url).json(&capabilities).send().await;
        let value = match response {
            Ok(response) => unwrap_value(response.json::<Value>().await),
            Err(error) => Err(error.to_string()),
        };
        match value {
            Ok(value) => value["sessionId"]
                .as_str()
                .unwrap_or_else(|| panic!("no sessionId in {value}"))
                .to_owned(),
            Err(error) => panic!(
                "chromedriver could not start {CHROMIUM}: {error}\n{}\n(if Chromium is broken or \
                 its version differs from chromedriver's, {INSTALL})",
                self.log_tail()
            ),
        }
    }

    /// Loads `url` and waits until the page's `load` event.
    ///
    /// # Panics
    /// When the browser cannot load it.
    pub(crate) async fn goto(&self, url: &str) {
        if let Err(error) = self.command("url", json!({ "url": url })).await {
            panic!("cannot load {url}: {error}");
        }
    }

    /// Runs `script` (a function body: `return …` gives the result) in the page with
    /// `arguments` = `args`, and returns what it returned as JSON (`undefined` is `null`).
    ///
    /// # Errors
    /// The WebDriver error (a JavaScript exception, no page, …) as text.
    pub(crate) async fn try_execute(&self, script: &str, args: Value) -> Result<Value, String> {
        self.command("execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// [`Self::try_execute`] that panics on an error.
    pub(crate) async fn execute(&self, script: &str, args: Value) -> Value {
        self.try_execute(script, args)
            .await
            .unwrap_or_else(|error| panic!("script failed: {error}\nscript: {script}"))
    }

    /// Runs `script` every 50 ms until it returns something truthy, and returns that.
    /// `what` says in the panic message what was awaited.
    ///
    /// # Panics
    /// After `timeout`, with the last result or error and the page's visible text.
    pub(crate) async fn wait_until(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let last = match self.try_execute(script, json!([])).await {
                Ok(value) if truthy(&value) => return value,
                Ok(value) => format!("returned {value}"),
                Err(error) => format!("failed: {error}"),
            };
            if started.elapsed() >= timeout {
                let text = self
                    .try_execute(
                        "return document.body ? document.body.innerText : '';",
                        json!([]),
                    )
                    .await
                    .map(|value| value.as_str().unwrap_or_default().to_owned())
                    .unwrap_or_else(|error| format!("(cannot read the page: {error})"));
                let excerpt: String = text.chars().take(3_000).collect();
                panic!(
                    "timed out after {timeout:?} waiting until {what}\n\
                     the script last {last}\nscript: {script}\n--- page text ---\n{excerpt}"
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Saves a PNG of the viewport to `path`, creating its folder.
    ///
    /// # Panics
    /// When the browser cannot take it or the file cannot be written.
    pub(crate) async fn screenshot(&self, path: &Path) {
        let value = self
            .get("screenshot")
            .await
            .unwrap_or_else(|error| panic!("cannot take a screenshot: {error}"));
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .unwrap_or_else(|error| panic!("screenshot is not base64: {error}"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|error| panic!("cannot create {}: {error}", parent.display()));
        }
        std::fs::write(path, png)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    }

    /// Saves a PNG of the whole page to `path`: WebDriver only shoots the viewport, so the
    /// window is made as tall as the page for the shot and then restored.
    ///
    /// # Panics
    /// As [`Self::screenshot`].
    pub(crate) async fn screenshot_full_page(&self, path: &Path) {
        let size = self
            .execute(
                "return [window.outerWidth, window.outerHeight, \
                 window.outerHeight - window.innerHeight, \
                 Math.ceil(document.documentElement.scrollHeight)];",
                json!([]),
            )
            .await;
        let dim = |i: usize| {
            size[i]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0)
        };
        let (width, height, chrome, page) = (dim(0), dim(1), dim(2), dim(3));
        self.set_window_size(width, (page + chrome).max(height))
            .await;
        // Let the resized page lay out and paint before the shot.
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.screenshot(path).await;
        self.set_window_size(width, height).await;
    }

    /// Resizes the window (the page's layout, and the next screenshot).
    pub(crate) async fn set_window_size(&self, width: u32, height: u32) {
        if let Err(error) = self
            .command("window/rect", json!({ "width": width, "height": height }))
            .await
        {
            panic!("cannot resize the window: {error}");
        }
    }

    async fn command(&self, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("http://{}/session/{}/{path}", self.addr, self.session);
        match self.http.post(&url).json(&body).send().await {
            Ok(response) => unwrap_value(response.json::<Value>().await),
            Err(error) => Err(format!("POST {path}: {error}")),
        }
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let url = format!("http://{}/session/{}/{path}", self.addr, self.session);
        match self.http.get(&url).send().await {
            Ok(response) => unwrap_value(response.json::<Value>().await),
            Err(error) => Err(format!("GET {path}: {error}")),
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("chromedriver.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let mut tail = String::from("--- chromedriver log (last 40 lines) ---\n");
        for line in &lines[lines.len().saturating_sub(40)..] {
            let _ = writeln!(tail, "{line}");
        }
        tail
    }

    /// Ends the session over a plain blocking socket (`Drop` cannot await), so chromedriver
    /// closes Chromium itself instead of leaving it orphaned. True once chromedriver answered.
    fn delete_session(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            self.session, self.addr
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        // chromedriver answers only once Chromium is gone, and may keep the connection open
        // after that: stop at the first complete status line instead of waiting for EOF.
        let mut answer = Vec::new();
        let mut chunk = [0_u8; 1024];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return false,
                Ok(read) => answer.extend_from_slice(&chunk[..read]),
            }
        }
        answer.starts_with(b"HTTP/1.1 200")
    }

    /// Kills chromedriver's process group, Chromium included: the fallback when the session
    /// could not be ended politely. (std cannot signal a group; `kill` can.)
    fn kill_group(&self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.session.is_empty() || !self.delete_session() {
            self.kill_group();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The WebDriver answer's `value`, or its error as text.
fn unwrap_value(body: Result<Value, reqwest::Error>) -> Result<Value, String> {
    let mut body = body.map_err(|error| format!("unreadable WebDriver answer: {error}"))?;
    let value = body["value"].take();
    match value.get("error").and_then(Value::as_str) {
        Some(error) => Err(format!(
            "{error}: {}",
            value["message"].as_str().unwrap_or_default()
        )),
        None => Ok(value),
    }
}

/// JavaScript truthiness of a script's result.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0 && !n.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A port nothing listens on right now (chromedriver binds it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("find a free loopback port")
}

fn unique_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    std::env::temp_dir().join(format!(
        "shop-monitor-browser-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}
