//! A participant's watch-page socket: while it is open (and answering
//! pings) they count as watching the session.

use super::hub::Hub;
use super::presence::{WatchStart, WatchStop};
use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use std::time::{Duration, Instant};

const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// Silence after which a vanished client is counted out (its last flush is
/// then at most PRESENCE_WINDOW old: out within half a minute in all).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_FRAME_BYTES: usize = 1024;

struct WatchSocket {
    id: u64,
    participant_id: i32,
    session_id: i32,
    event_id: i32,
    hub: Addr<Hub>,
    heard_from: Instant,
}

pub fn start(
    id: u64,
    participant_id: i32,
    session_id: i32,
    event_id: i32,
    hub: Addr<Hub>,
    req: &HttpRequest,
    stream: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let socket = WatchSocket {
        id,
        participant_id,
        session_id,
        event_id,
        hub,
        heard_from: Instant::now(),
    };
    ws::WsResponseBuilder::new(socket, req, stream)
        .frame_size(MAX_FRAME_BYTES)
        .start()
}

impl Actor for WatchSocket {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.hub.do_send(WatchStart {
            socket: self.id,
            participant_id: self.participant_id,
            session_id: self.session_id,
            event_id: self.event_id,
        });
        ctx.run_interval(HEARTBEAT_INTERVAL, |socket, ctx| {
            if socket.heard_from.elapsed() > CLIENT_TIMEOUT {
                ctx.stop();
            } else {
                ctx.ping(b"");
            }
        });
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.hub.do_send(WatchStop {
            socket: self.id,
            participant_id: self.participant_id,
            session_id: self.session_id,
        });
        Running::Stop
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WatchSocket {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.heard_from = Instant::now();
        match msg {
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(_) => ctx.stop(),
        }
    }
}
