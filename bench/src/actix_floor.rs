//! The writing side of `fanout-floor --stack actix`: Rollcall's stack with
//! nothing of Rollcall in it. An actix-web server on two workers whose
//! sockets are actix-web-actors actors (as `live::socket` is), and one actor
//! on the main thread that hands them the message as the hub does: a
//! `Push` each through `try_send`, in shares whose last written push
//! (a ticket dropped) asks for the next. No computations, database, scans,
//! sessions or middleware.

use actix::prelude::*;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use actix_web_actors::ws;
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// As `live::socket`: updates a socket may have waiting.
const MAILBOX: usize = 64;
const MAX_FRAME_BYTES: usize = 4 * 1024;

/// Serves WebSockets on a loopback port (printed first), and on each line
/// of stdin hands every socket one message of `bytes` bytes, `share` at a
/// time (0: all at once); prints "written" once every socket has written it.
pub fn serve(threads: usize, bytes: usize, share: usize) -> anyhow::Result<()> {
    let system = System::new();
    system.block_on(async move {
        let caster = Caster {
            sockets: Vec::new(),
            text: "x".repeat(bytes).into(),
            share,
            round: VecDeque::new(),
        }
        .start();
        let app_caster = caster.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(app_caster.clone()))
                .route("/", web::get().to(open_socket))
        })
        .workers(threads)
        .disable_signals()
        .bind(("127.0.0.1", 0))?;
        let port = server.addrs().first().map(|a| a.port()).unwrap_or(0);
        println!("{port}");
        std::io::stdout().flush()?;
        // A round for each line; done when the driver hangs up.
        std::thread::spawn(move || {
            for _ in std::io::stdin().lock().lines().map_while(Result::ok) {
                caster.do_send(Round);
            }
            std::process::exit(0);
        });
        server.run().await?;
        anyhow::Ok(())
    })
}

async fn open_socket(
    req: HttpRequest,
    stream: web::Payload,
    caster: web::Data<Addr<Caster>>,
) -> Result<HttpResponse, actix_web::Error> {
    let socket = Socket {
        caster: caster.get_ref().clone(),
    };
    ws::WsResponseBuilder::new(socket, &req, stream)
        .frame_size(MAX_FRAME_BYTES)
        .start()
}

#[derive(Message)]
#[rtype(result = "()")]
struct Push {
    text: Arc<str>,
    _ticket: Ticket,
}

/// A share's pushes not yet written; the last one dropped asks for the next.
struct Share {
    unsent: AtomicUsize,
    caster: Addr<Caster>,
}

struct Ticket(Arc<Share>);

impl Ticket {
    fn new(share: &Arc<Share>) -> Ticket {
        share.unsent.fetch_add(1, Ordering::Relaxed);
        Ticket(share.clone())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.0.unsent.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.caster.do_send(Drained);
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Drained;

#[derive(Message)]
#[rtype(result = "()")]
struct Round;

#[derive(Message)]
#[rtype(result = "()")]
struct Join(Recipient<Push>);

struct Caster {
    sockets: Vec<Recipient<Push>>,
    text: Arc<str>,
    share: usize,
    /// Sockets of the round going out not yet handed the message.
    round: VecDeque<usize>,
}

impl Caster {
    fn send_share(&mut self, ctx: &mut Context<Self>) {
        if self.round.is_empty() {
            println!("written");
            let _ = std::io::stdout().flush();
            return;
        }
        let take = match self.share {
            0 => self.round.len(),
            share => share.min(self.round.len()),
        };
        let share = Arc::new(Share {
            unsent: AtomicUsize::new(0),
            caster: ctx.address(),
        });
        let handing_over = Ticket::new(&share);
        for index in self.round.drain(..take) {
            let push = Push {
                text: self.text.clone(),
                _ticket: Ticket::new(&share),
            };
            if let Err(error) = self.sockets[index].try_send(push) {
                eprintln!("socket {index} not handed its message: {error}");
            }
        }
        drop(handing_over);
    }
}

impl Actor for Caster {
    type Context = Context<Self>;
}

impl Handler<Join> for Caster {
    type Result = ();
    fn handle(&mut self, msg: Join, _: &mut Context<Self>) {
        self.sockets.push(msg.0);
    }
}

impl Handler<Round> for Caster {
    type Result = ();
    fn handle(&mut self, _: Round, ctx: &mut Context<Self>) {
        self.round = (0..self.sockets.len()).collect();
        self.send_share(ctx);
    }
}

impl Handler<Drained> for Caster {
    type Result = ();
    fn handle(&mut self, _: Drained, ctx: &mut Context<Self>) {
        self.send_share(ctx);
    }
}

struct Socket {
    caster: Addr<Caster>,
}

impl Actor for Socket {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        self.caster.do_send(Join(ctx.address().recipient()));
    }
}

impl Handler<Push> for Socket {
    type Result = ();
    fn handle(&mut self, msg: Push, ctx: &mut Self::Context) {
        ctx.text(&*msg.text);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Socket {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
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
