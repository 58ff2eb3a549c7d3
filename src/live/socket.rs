//! One dashboard's WebSocket: forwards the hub's messages, answers pings,
//! and closes when the client goes quiet.

use super::hub::{Close, Hub, Push, Resync, Subscribe, Unsubscribe};
use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use std::time::{Duration, Instant};

const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Updates a socket may have waiting; more means the client can't keep up.
const MAILBOX: usize = 64;
/// Clients only ever send tiny control messages.
const MAX_FRAME_BYTES: usize = 4 * 1024;

struct LiveSocket {
    id: u64,
    event_id: i32,
    slug: String,
    hub: Addr<Hub>,
    heard_from: Instant,
}

pub fn start(
    id: u64,
    event_id: i32,
    slug: String,
    hub: Addr<Hub>,
    req: &HttpRequest,
    stream: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let socket = LiveSocket {
        id,
        event_id,
        slug,
        hub,
        heard_from: Instant::now(),
    };
    ws::WsResponseBuilder::new(socket, req, stream)
        .frame_size(MAX_FRAME_BYTES)
        .start()
}

impl Actor for LiveSocket {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        self.hub.do_send(Subscribe {
            event_id: self.event_id,
            slug: self.slug.clone(),
            id: self.id,
            socket: ctx.address().recipient(),
            closer: ctx.address().recipient(),
        });
        ctx.run_interval(HEARTBEAT_INTERVAL, |socket, ctx| {
            if socket.heard_from.elapsed() > CLIENT_TIMEOUT {
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Away,
                    description: Some("no answer to pings".into()),
                }));
                ctx.stop();
            } else {
                ctx.ping(b"");
            }
        });
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.hub.do_send(Unsubscribe {
            event_id: self.event_id,
            id: self.id,
        });
        Running::Stop
    }
}

impl Handler<Push> for LiveSocket {
    type Result = ();
    fn handle(&mut self, msg: Push, ctx: &mut Self::Context) {
        ctx.text(&*msg.text);
    }
}

impl Handler<Close> for LiveSocket {
    type Result = ();
    fn handle(&mut self, msg: Close, ctx: &mut Self::Context) {
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Again,
            description: Some(msg.0.into()),
        }));
        ctx.stop();
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for LiveSocket {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.heard_from = Instant::now();
        match msg {
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Text(text)) => {
                let resync = serde_json::from_str::<serde_json::Value>(&text)
                    .is_ok_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("resync"));
                if resync {
                    self.hub.do_send(Resync {
                        event_id: self.event_id,
                        id: self.id,
                    });
                }
            }
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(
                ws::Message::Pong(_)
                | ws::Message::Binary(_)
                | ws::Message::Continuation(_)
                | ws::Message::Nop,
            ) => {}
            Err(_) => ctx.stop(),
        }
    }
}
