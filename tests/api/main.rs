//! Integration tests: the real app over HTTP on a fresh database each
//! (SQLite by default; PostgreSQL when ROLLCALL_TEST_POSTGRES is set).
//! One binary, so it links once.

mod helpers;

mod admin;
mod auth;
mod browser;
mod checkins;
mod cli;
mod concurrency;
mod crash;
mod health;
mod hostile;
mod imports;
mod limits;
mod live;
mod logs;
mod metrics;
mod online;
mod personal;
mod privacy;
mod registration;
mod reports;
mod routes;
