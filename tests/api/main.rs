//! Integration tests: the real router over real databases. One binary, as compile time matters.

mod common;
mod metrics;
mod process;
mod testca;

mod acme;
mod auth;
mod certificates;
mod compose;
mod csr_create;
mod csr_lifecycle;
mod csr_list;
mod csr_validation;
mod hostnames;
mod key_pool;
mod observability;
mod observability_binary;
mod openapi;
mod operations;
mod startup;
mod upgrade;
mod upload_limits;
