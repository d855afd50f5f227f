//! The web UI in a real browser (headless Chromium driven through
//! chromedriver): sign in with a token, see a grey day turn green after
//! Sync now, save a schedule from the grid, page through the history, and
//! find no admin buttons as a viewer.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test
//! says it skipped, unless `CI=true` or `TANDEM_REQUIRE_BROWSER` is set:
//! then it fails. `TANDEM_BROWSER_SHOTS=DIR` saves screenshots there.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tandem_e2e::Sandbox;
use tandem_e2e::daemon::{DaemonProcess, call, free_port};

const ADMIN: &str = "ui-admin-token";
const VIEWER: &str = "ui-viewer-token";

/// How long one wait in the page may take.
const WAIT: Duration = Duration::from_secs(30);

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// chromedriver in a process group of its own, with the browsers it
/// starts: the whole group is killed on drop, so a failing test leaves no
/// browser behind.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn manifest() -> String {
    let hex: String = Sha256::digest(ADMIN.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        r#"
{endpoints}
{events}
[pairs.events.schedule]
active = false

[daemon]
poll_interval = "1h"

[daemon.tokens.ops]
role = "admin"
hash = "sha256:{hex}"

[daemon.tokens.wall]
role = "viewer"
token_env = "UI_VIEWER_TOKEN"
"#,
        endpoints = tandem_e2e::events_endpoints(),
        events = tandem_e2e::EVENTS_PAIR
    )
}

/// Waits until `script` (a function body) returns true in the page.
async fn wait_js(c: &Client, what: &str, script: &str) {
    let start = Instant::now();
    loop {
        match c.execute(script, vec![]).await {
            Ok(Value::Bool(true)) => return,
            Ok(_) => {}
            Err(e) => panic!("{what}: {e}"),
        }
        if start.elapsed() > WAIT {
            let message = c
                .execute(
                    "return document.querySelector('#message').textContent",
                    vec![],
                )
                .await
                .unwrap_or_default();
            panic!("waited {WAIT:?} for {what}; the page says {message}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn shot(c: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("TANDEM_BROWSER_SHOTS")
        && let Ok(png) = c.screenshot().await
    {
        let _ = std::fs::write(PathBuf::from(dir).join(format!("{name}.png")), png);
    }
}

#[test]
fn the_ui_syncs_a_day_saves_a_schedule_and_pages_history() {
    let browser = find_program(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = find_program(&["chromedriver"]);
    let (Some(browser), Some(driver)) = (browser, driver) else {
        let required = std::env::var("CI").is_ok_and(|v| v == "true")
            || std::env::var_os("TANDEM_REQUIRE_BROWSER").is_some();
        if required {
            panic!(
                "the browser test needs chromium and chromedriver (apt-get install chromium chromium-driver); CI requires them"
            );
        }
        eprintln!("browser test skipped: chromium or chromedriver is not installed");
        return;
    };
    // Both of rustls's crypto providers are in the build; pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(240), scenario(browser, driver))
            .await
            .expect("the browser test finished within 4 minutes");
    });
}

async fn scenario(browser: PathBuf, driver: PathBuf) {
    let s = Sandbox::new();
    s.write("plugins.toml", &manifest());
    s.write("events.csv", "id,time,value\n");
    let d = DaemonProcess::start(&s, &[("UI_VIEWER_TOKEN", VIEWER)]);
    let api = |method: &str, path: &str, body: Option<Value>| {
        let (code, out) = call(&d.url, method, path, Some(ADMIN), body);
        assert!(code < 300, "{method} {path}: {code} {out}");
        out
    };
    // Events on the 1st and 2nd of the month the calendar opens on.
    let month = api("GET", "/api/v1/pairs/events/calendar", None)["month"]
        .as_str()
        .unwrap()
        .to_owned();
    s.write(
        "events.csv",
        &format!(
            "id,time,value\ne1,{month}-01T10:00:00Z,a\ne2,{month}-01T11:00:00Z,b\ne3,{month}-02T10:00:00Z,c\n"
        ),
    );
    api("POST", "/api/v1/pairs/events/poll", None);

    let port = free_port();
    let profile = tempfile::tempdir().unwrap();
    let _driver = Driver(
        Command::new(&driver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": browser,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-crash-reporter", "--disable-breakpad",
                "--window-size=1400,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    let start = Instant::now();
    let c = loop {
        let connected = ClientBuilder::rustls()
            .expect("tls roots")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match connected {
            Ok(c) => break c,
            Err(e) if start.elapsed() > WAIT => panic!("chromedriver did not answer: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };

    // Sign in with the admin token.
    c.goto(&d.url).await.unwrap();
    wait_js(
        &c,
        "the token dialog",
        "return document.querySelector('#token-dialog').open",
    )
    .await;
    c.find(Locator::Css("#token-input"))
        .await
        .unwrap()
        .send_keys(ADMIN)
        .await
        .unwrap();
    click(&c, "#token-save").await;
    wait_js(
        &c,
        "the calendar",
        &format!("return !!document.querySelector('#cal-grid .day[data-day=\"{month}-01\"]')"),
    )
    .await;
    assert_eq!(text(&c, "#whoami").await, "ops (admin)");
    let status_class = "return document.querySelector('#sync-now-status').className";
    let class = c.execute(status_class, vec![]).await.unwrap();
    assert!(
        class.as_str().unwrap().contains("pending"),
        "red Sync now: {class}"
    );
    assert!(text(&c, "#pending-count").await.starts_with("3 elements"));
    assert!(text(&c, "#cal-summary").await.starts_with("0/"));
    shot(&c, "1-calendar").await;

    // A grey day turns green after Sync now.
    let day = format!("#cal-grid .day[data-day=\"{month}-01\"]");
    let class = c
        .find(Locator::Css(&day))
        .await
        .unwrap()
        .attr("class")
        .await
        .unwrap();
    assert!(class.unwrap().contains("not_synced"));
    click(&c, &day).await;
    click(&c, "#cal-sync-day").await;
    wait_js(
        &c,
        "the day to turn green",
        &format!("return document.querySelector('{day}').classList.contains('synced')"),
    )
    .await;
    assert!(text(&c, "#cal-summary").await.starts_with("1/"));
    let saved = text(&c, "#cal-saved").await;
    assert!(saved.contains("Saved: 2"), "{saved}");
    let day2 = format!("#cal-grid .day[data-day=\"{month}-02\"]");
    let class = c
        .find(Locator::Css(&day2))
        .await
        .unwrap()
        .attr("class")
        .await
        .unwrap();
    assert!(
        class.unwrap().contains("not_synced"),
        "the 2nd is still grey"
    );
    shot(&c, "2-synced").await;

    // Save a schedule: Monday 09:00 and Tuesday 10:00, active.
    click(&c, "nav .tab[data-tab=scheduling]").await;
    wait_js(
        &c,
        "the grid",
        "return document.querySelectorAll('#sched-grid td').length === 168",
    )
    .await;
    click(&c, "#sched-grid td[data-day=\"0\"][data-hour=\"9\"]").await;
    click(&c, "#sched-grid td[data-day=\"1\"][data-hour=\"10\"]").await;
    click(&c, "#sched-active").await;
    click(&c, "#sched-save").await;
    wait_js(
        &c,
        "the schedule to be saved",
        "return document.querySelector('#message').textContent === 'Schedule saved'",
    )
    .await;
    let sched = api("GET", "/api/v1/pairs/events/schedule", None);
    assert_eq!(sched["source"], "saved");
    assert_eq!(sched["grid"], json!(["Mon 09", "Tue 10"]), "{sched}");
    assert_eq!(sched["active"], true);
    shot(&c, "3-schedule").await;
    // Inactive again, so that the scheduler leaves the pair alone.
    click(&c, "#sched-active").await;
    click(&c, "#sched-save").await;
    wait_js(&c, "saved inactive", "return document.querySelector('#sched-active-label').textContent === 'Inactive scheduling'").await;

    // Twelve more runs, then page through the history.
    for _ in 0..12 {
        let out = api("POST", "/api/v1/pairs/events/sync", Some(json!({})));
        let id = out["run_id"].as_i64().unwrap();
        let start = Instant::now();
        while api("GET", &format!("/api/v1/runs/{id}"), None)["run"]["status"] == "running" {
            assert!(start.elapsed() < WAIT);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    click(&c, "nav .tab[data-tab=history]").await;
    wait_js(
        &c,
        "ten rows",
        "return document.querySelectorAll('#hist-table tbody tr').length === 10",
    )
    .await;
    assert_eq!(text(&c, "#hist-page").await, "page 1 of 2 (13 runs)");
    let first = text(&c, "#hist-table tbody tr:first-child td:first-child").await;
    assert_eq!(first, "13", "newest first");
    click(&c, "#hist-next").await;
    wait_js(
        &c,
        "page 2",
        "return document.querySelectorAll('#hist-table tbody tr').length === 3",
    )
    .await;
    assert_eq!(text(&c, "#hist-page").await, "page 2 of 2 (13 runs)");
    let last = text(&c, "#hist-table tbody tr:last-child td:first-child").await;
    assert_eq!(last, "1");
    let status = text(&c, "#hist-table tbody tr:last-child td:nth-child(2)").await;
    assert_eq!(status, "Completed");
    click(&c, "#hist-table tbody tr:last-child").await;
    wait_js(
        &c,
        "the run's detail",
        "return document.querySelector('#run-dialog').open",
    )
    .await;
    let detail = text(&c, "#run-detail").await;
    assert!(
        detail.contains("Run 1 of events") && detail.contains("Saved days: 1, saved events: 2"),
        "{detail}"
    );
    shot(&c, "4-run").await;
    click(&c, "#run-close").await;
    c.find(Locator::Css("#hist-per-page"))
        .await
        .unwrap()
        .select_by_value("20")
        .await
        .unwrap();
    wait_js(
        &c,
        "13 rows",
        "return document.querySelectorAll('#hist-table tbody tr').length === 13",
    )
    .await;
    assert_eq!(text(&c, "#hist-page").await, "page 1 of 1 (13 runs)");
    click(&c, "#hist-refresh").await;

    // A viewer sees the calendar but no admin buttons.
    c.execute(
        &format!(
            "localStorage.setItem('tandem.token', '{VIEWER}'); location.reload(); return true"
        ),
        vec![],
    )
    .await
    .unwrap();
    wait_js(
        &c,
        "signed in as viewer",
        "return document.querySelector('#whoami').textContent === 'wall (viewer)'",
    )
    .await;
    let hidden = c
        .execute(
            "return [...document.querySelectorAll('#sync-now-status, #cal-resync-month, #sched-save')].every(e => e.getClientRects().length === 0)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        hidden,
        json!(true),
        "admin buttons are hidden from a viewer"
    );
    shot(&c, "5-viewer").await;
    c.close().await.unwrap();
}
