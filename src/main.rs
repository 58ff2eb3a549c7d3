use clap::Parser;
use std::process::ExitCode;

// mimalloc instead of glibc's malloc. Under a door rush glibc spent ~5 % of
// the check-in writer's samples and ~7 % of the HTTP workers' consolidating
// its fast bins: every allocation over 1 KiB (a handler's future, a batch's
// vectors) sweeps up the small blocks freed since the last one. In nine
// door rushes of mimalloc alternating with eight of glibc, it averaged
// 34,500 check-ins/s against 31,500 (BENCHMARKS.md history 33). `no_thp`
// keeps it off transparent huge pages, which otherwise took idle memory
// from 21 to 39 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hands memory freed but kept by mimalloc back to the system; run after
/// each password hash and each CSV export (`rollcall::memory`). mimalloc
/// keeps freed pages for a second and gives them back only when later frees
/// come to it, which an idle server doesn't make, so each hash's 19 MiB
/// (argon2id) stayed: 37.9 MiB after `serve --demo` and 47.2 MiB after five
/// sign-ins (glibc: 20.9; with this, 23.1). Giving pages back at every free
/// instead (`purge_delay` 0) cost the door rush ~4 % (BENCHMARKS.md history
/// 33).
fn give_back_freed_memory() {
    // SAFETY: mi_collect only frees and purges memory mimalloc no longer uses.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

#[actix_web::main]
async fn main() -> ExitCode {
    rollcall::memory::on_release(give_back_freed_memory);
    // Held to the end, so the log's last lines are written before exit.
    let _log = rollcall::telemetry::init();
    let cli = rollcall::cli::Cli::parse();
    match rollcall::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rollcall: {error:#}");
            ExitCode::FAILURE
        }
    }
}
