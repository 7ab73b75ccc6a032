//! Integration tests: the real router over real databases. One binary, as compile time matters.

mod common;

mod auth;
mod csr_create;
mod csr_lifecycle;
mod csr_list;
mod csr_validation;
mod startup;
