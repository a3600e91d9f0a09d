//! The webhook listener: one actix-web server for every connector's SIGNL4 route.
//!
//! Invariant: it runs inside the caller's actix System (so handlers reach the actors directly)
//! with signals disabled (the caller decides when to stop) and one worker (notifications are
//! few; the work happens in the actors).

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer};

use crate::webhook::{configure, Routes};

/// Binds `bind`, starts serving `routes` and returns the server's handle and address.
pub fn serve_webhooks(routes: Routes, bind: SocketAddr) -> std::io::Result<(ServerHandle, SocketAddr)> {
    let server = HttpServer::new(move || App::new().configure(configure(routes.clone())))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(5)
        .bind(bind)?;
    let address = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok((handle, address))
}
