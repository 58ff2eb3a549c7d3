use clap::Parser;
use std::process::ExitCode;

// mimalloc instead of glibc's malloc. Under a door rush glibc spent ~5 % of
// the check-in writer's samples and ~7 % of the HTTP workers' consolidating
// its fast bins: every allocation over 1 KiB (a handler's future, a batch's
// vectors) sweeps up the small blocks freed since the last one. With
// mimalloc the SQLite door rush went from a median of 32,200 to 36,800
// check-ins/s (BENCHMARKS.md history 33). `no_thp` keeps it off
// transparent huge pages, which otherwise took idle memory from 21 to 39 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    rollcall::telemetry::init();
    let cli = rollcall::cli::Cli::parse();
    match rollcall::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rollcall: {error:#}");
            ExitCode::FAILURE
        }
    }
}
