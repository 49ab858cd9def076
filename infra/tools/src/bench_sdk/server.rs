//! (b) A kept-alive HTTP/1.1 server on loopback that answers DynamoDB's canned bodies, as
//! DynamoDB keeps a client's connection open. It runs in a child process (`bench-sdk serve`), so
//! its CPU is not counted with the client's.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, Command, Stdio},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::canned::{Op, Tables, response_body};

/// The child process serving on loopback, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Server {
    /// Starts `<this executable> serve <delay_ms>` and reads the port it prints.
    pub fn spawn(delay_ms: u64) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .arg(delay_ms.to_string())
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let port: u16 = line
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("the canned server printed {line:?}, not its port"))?;
        Ok(Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already gone is fine: nothing else to clean.
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

/// `bench-sdk serve [delay_ms]`: binds, prints the port, answers until killed, each answer
/// `delay_ms` after its request (0: at once).
pub async fn serve(delay_ms: u64) -> anyhow::Result<()> {
    let delay = std::time::Duration::from_millis(delay_ms);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{port}")?;
    stdout.flush()?;
    let tables = Tables::from_env();
    let responses: Vec<Vec<u8>> = Op::ALL
        .into_iter()
        .map(|op| {
            let body = response_body(op, &tables);
            let mut r = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n\
                 x-amzn-requestid: BENCHBENCHBENCHBENCHBENCHBENCHBENCHBENCHBENCHBENCH\r\n\
                 content-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(&body);
            r
        })
        .collect();
    let responses: &'static [Vec<u8>] = responses.leak();
    loop {
        let (socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        tokio::spawn(async move {
            // A connection that breaks ends its task; the client reports the failure.
            drop(connection(socket, responses, delay).await);
        });
    }
}

/// One kept-alive connection: request after request, each answered by its `X-Amz-Target`.
async fn connection(
    mut socket: TcpStream,
    responses: &[Vec<u8>],
    delay: std::time::Duration,
) -> anyhow::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if read_more(&mut socket, &mut buf).await? == 0 {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        let length: usize = header("content-length:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let op = header("x-amz-target:").and_then(|t| Op::from_target(t.as_bytes()));
        while buf.len() < head_end + length {
            if read_more(&mut socket, &mut buf).await? == 0 {
                return Ok(());
            }
        }
        buf.drain(..head_end + length);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match op.and_then(|op| Op::ALL.iter().position(|o| *o == op)) {
            Some(i) => socket.write_all(&responses[i]).await?,
            None => {
                socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await?;
            }
        }
    }
}

async fn read_more(socket: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 8192];
    let n = socket.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
