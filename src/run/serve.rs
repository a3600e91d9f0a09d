//! The webhook listener: one actix-web server for every connector's SIGNL4 route.
//!
//! Invariant: it runs inside the caller's actix System (so handlers reach the actors directly)
//! with signals disabled (the caller decides when to stop) and one worker (notifications are
//! few; the work happens in the actors). `run` binds the socket itself ([`bind_listener`])
//! before anything is appended or started, so an address that cannot be bound stops the start
//! with the real error, and serves on it later ([`serve_webhooks_on`]).

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer};

use crate::webhook::{configure, Routes};

/// Binds `bind`, starts serving `routes` and returns the server's handle and address.
pub fn serve_webhooks(
    routes: Routes,
    bind: SocketAddr,
) -> std::io::Result<(ServerHandle, SocketAddr)> {
    serve_webhooks_on(routes, bind_listener(bind, "webhook")?)
}

/// Binds a listening socket on `bind`; the error names `what` and the address (address in
/// use, not an address of this host, permission denied for a low port).
pub fn bind_listener(bind: SocketAddr, what: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(bind).map_err(|error| {
        std::io::Error::new(
            error.kind(),
            format!("cannot listen on {bind} for the {what} listener: {error}"),
        )
    })
}

/// Starts serving `routes` on an already bound `listener`.
pub fn serve_webhooks_on(
    routes: Routes,
    listener: TcpListener,
) -> std::io::Result<(ServerHandle, SocketAddr)> {
    let address = listener.local_addr()?;
    let server = HttpServer::new(move || App::new().configure(configure(routes.clone())))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(5)
        .listen(listener)?;
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok((handle, address))
}
