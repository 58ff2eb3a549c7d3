//! Rollcall: a hybrid conference attendance tracker.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod export;
pub mod import;
pub mod live;
pub mod mail;
pub mod memory;
pub mod qr;
pub mod startup;
pub mod telemetry;
pub mod timefmt;
pub mod web;
