//! The coordinator's relay for an agent in loopback mode: every connection
//! the agent makes to a forwarded port of its own loopback is passed to the
//! same port of the host's 127.0.0.1, both ways, until either side closes.

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// How long accepting pauses after a failure that is not the connection's
/// own (out of descriptors), so that it does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// The relay's tasks: dropping it ends them and every relayed connection.
#[derive(Debug)]
pub struct Relay {
    _tasks: JoinSet<()>,
}

/// Relays each listener's connections to its port on the host's
/// 127.0.0.1. Must run inside a tokio runtime.
pub fn relay(listeners: Vec<(u16, std::net::TcpListener)>) -> io::Result<Relay> {
    let mut tasks = JoinSet::new();
    for (port, listener) in listeners {
        listener.set_nonblocking(true)?;
        tasks.spawn(serve(TcpListener::from_std(listener)?, port));
    }
    Ok(Relay { _tasks: tasks })
}

async fn serve(listener: TcpListener, port: u16) {
    // Owned here: aborting this task ends every connection it relays.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((inside, _)) => {
                    connections.spawn(pass(inside, port));
                }
                Err(e) if is_the_connections_own(&e) => {}
                Err(_) => tokio::time::sleep(ACCEPT_PAUSE).await,
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

/// Failures of one connection that was already gone, not of the listener.
fn is_the_connections_own(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// One connection: the host's side opened, then bytes both ways. A port
/// nothing listens on at the host closes the agent's connection at once.
async fn pass(mut inside: TcpStream, port: u16) {
    let Ok(mut outside) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await else {
        return;
    };
    // Requests and answers are small (MCP over HTTP): no Nagle delay.
    let _ = inside.set_nodelay(true);
    let _ = outside.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
}
