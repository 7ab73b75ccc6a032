//! Integration tests: the real router over real databases. One binary, as compile time matters.

mod common;
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
mod openapi;
mod operations;
mod startup;
mod upgrade;
