//! Redis for tests: the machine's Redis under a key prefix of the test's own, and
//! `redis-server` processes a test starts and stops itself.

use std::time::Duration;

/// How long a `redis-server` of the test's own may take to answer its first PING.
const UP_WITHIN: Duration = Duration::from_secs(60);

/// The Redis tests use: 127.0.0.1:6379 unless `NONSTOP_TEST_REDIS` names another.
pub fn redis_url() -> String {
    std::env::var("NONSTOP_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned())
}

/// A Redis key prefix no other test or run uses; its keys are deleted when it is dropped.
#[derive(Debug)]
pub struct RedisPrefix(pub String);

impl RedisPrefix {
    pub fn new(name: &str) -> Self {
        RedisPrefix(format!("nonstop-test:{name}:{:08x}", rand::random::<u32>()))
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        // `NONSTOP_TEST_KEEP_REDIS=1`: left for a look after a failure.
        if std::env::var("NONSTOP_TEST_KEEP_REDIS").is_ok_and(|v| v == "1") {
            eprintln!("Redis keys kept under {}:*", self.0);
            return;
        }
        let Ok(client) = redis::Client::open(redis_url()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query(&mut conn);
        }
    }
}

/// A `redis-server` of the test's own on a free port, with its data in a temporary directory
/// (AOF, fsync always), so that it can be stopped and started again with what it held.
#[derive(Debug)]
pub struct OwnRedis {
    port: u16,
    dir: std::path::PathBuf,
    settings: Vec<String>,
    process: Option<std::process::Child>,
}

impl OwnRedis {
    /// With its data kept in an append-only file fsynced on every write.
    pub fn start() -> Self {
        Self::start_with(&["--appendonly", "yes", "--appendfsync", "always"])
    }

    /// Speaking TLS too, on its own port (the port returned), with a certificate for
    /// `localhost` that the test CA in tests/fixtures/redis-tls signed; `settings` besides.
    pub fn start_tls(settings: &[&str]) -> (Self, u16) {
        let tls_port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let dir = redis_tls_fixtures();
        let mut all: Vec<String> = vec![
            "--tls-port".into(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            format!("{dir}/server.pem"),
            "--tls-key-file".into(),
            format!("{dir}/server.key"),
            "--tls-ca-cert-file".into(),
            format!("{dir}/ca.pem"),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        all.extend(settings.iter().map(|s| (*s).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        (Self::start_with(&all), tls_port)
    }

    /// With these settings besides the port and the directory.
    pub fn start_with(settings: &[&str]) -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let dir = std::env::temp_dir().join(format!("nonstop-redis-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = OwnRedis {
            port,
            dir,
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
            process: None,
        };
        redis.up();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn up(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(&self.settings)
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package; .ci/run installs it)");
        self.process = Some(child);
        let deadline = std::time::Instant::now() + UP_WITHIN;
        while std::time::Instant::now() < deadline {
            let ping = redis::Client::open(self.url())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            // Up when it answers, a refusal for want of a password included.
            if ping.is_ok() || ping.is_err_and(|e| e.to_string().contains("NOAUTH")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {} never answered", self.port);
    }

    /// Stops it as an operator would (SIGTERM: it finishes its AOF and exits).
    /// `CONFIG SET name value` on this server (e.g. `maxmemory` to make it full).
    pub fn config_set(&self, name: &str, value: &str) {
        let mut conn = redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query(&mut conn)
            .unwrap();
    }

    pub fn down(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = std::process::Command::new("kill")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The test CA and the `localhost` certificate it signed (test-only keys, trusted by nothing).
pub fn redis_tls_fixtures() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../nonstop/tests/fixtures/redis-tls"
    )
    .to_owned()
}
