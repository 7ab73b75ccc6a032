//! One hostname's way through the lifecycle: order, validate, issue, deploy, and renew.
//! Each step ends in one write of the claimed row, so a restart resumes where it stopped.

use std::time::Duration as StdDuration;

use instant_acme::{
    Account, AuthorizationStatus, ChallengeStatus, ChallengeType, Identifier, NewOrder, Order,
    OrderStatus, Problem, RetryPolicy,
};

use super::{Acme, Failure, backoff, renewal_at};
use crate::AppState;
use crate::pki::csr::build_dv_csr;
use crate::pki::{UploadRequest, verify_upload};
use crate::store::{ManagedStatus, ManagedWork, StoredCertificate, StoredKey};

/// The longest a step waits for the CA (validation, issuance) before it lets go and looks
/// again later; well inside the lease.
pub(super) const CA_WAIT: StdDuration = StdDuration::from_secs(30);
/// When the CA is still working: look again after this.
const LOOK_AGAIN: time::Duration = time::Duration::seconds(2);
/// An order that keeps failing for other reasons than a refusal is given up after this many
/// attempts and a new one placed.
const ORDER_ATTEMPTS: u32 = 3;

/// `type: detail`, as a validation error's message.
pub(super) fn describe(problem: &Problem) -> String {
    let kind = problem
        .r#type
        .as_deref()
        .unwrap_or("urn:ietf:params:acme:error:unknown");
    match problem.detail.as_deref() {
        Some(detail) => format!("{kind}: {detail}"),
        None => kind.to_string(),
    }
}

/// Runs claimed work as far as it goes now and releases it.
pub(super) async fn process(state: &AppState, acme: &Acme, mut work: ManagedWork) {
    let outcome = advance(state, acme, &mut work).await;
    let now = state.clock.now();
    let failure = match outcome {
        Ok(()) => return,
        Err(failure) => failure,
    };
    let released = &mut work.state;
    match failure {
        Failure::Waiting => released.due_at = Some(now + LOOK_AGAIN),
        Failure::Refused(messages) => {
            tracing::info!(hostname_id = %work.hostname_id, errors = ?messages, "the ACME CA refused; retrying later");
            released.attempts = released.attempts.saturating_add(1);
            released.due_at = Some(now + backoff(released.attempts));
            released.validation_errors = messages;
            // A refused order cannot be used again; validation starts over with a new one.
            released.status = ManagedStatus::PendingValidation;
            released.order_url = None;
            work.pending_key = None;
            work.pending_certificate = None;
        }
        Failure::Transient(message) => {
            tracing::warn!(hostname_id = %work.hostname_id, error = %message, "managed certificate step failed; retrying later");
            released.attempts = released.attempts.saturating_add(1);
            released.due_at = Some(now + backoff(released.attempts));
            if released.attempts >= ORDER_ATTEMPTS && released.status != ManagedStatus::Active {
                released.order_url = None;
                if released.status != ManagedStatus::Initializing {
                    released.status = ManagedStatus::PendingValidation;
                }
                work.pending_key = None;
                work.pending_certificate = None;
            }
        }
    }
    if let Err(error) = state.store.save_managed(&work, true).await {
        // Lost the lease or the hostname went: the row is someone else's, or gone.
        tracing::debug!(hostname_id = %work.hostname_id, %error, "managed certificate state not saved");
    }
}

/// Steps until the work is deployed (`Ok`) or has to wait (`Err`).
async fn advance(state: &AppState, acme: &Acme, work: &mut ManagedWork) -> Result<(), Failure> {
    loop {
        match work.state.status {
            ManagedStatus::Active => {
                let due = work
                    .state
                    .due_at
                    .is_some_and(|due| due <= state.clock.now());
                if !due {
                    state.store.save_managed(work, true).await?;
                    return Ok(());
                }
                // Renewal: the same steps, while the old certificate stays served.
                work.state.renewing = true;
                work.state.status = ManagedStatus::Initializing;
                work.state.order_url = None;
                work.state.attempts = 0;
            }
            ManagedStatus::Initializing | ManagedStatus::PendingValidation
                if work.state.order_url.is_none() =>
            {
                let account = acme.account(state).await?;
                place_order(&account, work).await?;
                state.store.save_managed(work, false).await?;
            }
            ManagedStatus::Initializing | ManagedStatus::PendingValidation => {
                let account = acme.account(state).await?;
                validate(state, &account, work).await?;
                state.store.save_managed(work, false).await?;
            }
            ManagedStatus::PendingIssuance => {
                let account = acme.account(state).await?;
                issue(state, &account, work).await?;
                state.store.save_managed(work, false).await?;
            }
            ManagedStatus::PendingDeployment => {
                deploy(state, work).await?;
                state.served_changes.changed();
                tracing::info!(hostname_id = %work.hostname_id, "managed certificate deployed");
                return Ok(());
            }
        }
    }
}

/// A new order for the hostname, with the HTTP-01 answer to publish (none when the CA
/// still holds a valid authorization for the name).
async fn place_order(account: &Account, work: &mut ManagedWork) -> Result<(), Failure> {
    let identifiers = [Identifier::Dns(work.hostname.clone())];
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let mut answer = None;
    {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization?;
            if authorization.status != AuthorizationStatus::Pending {
                continue;
            }
            let challenge = authorization
                .challenge(ChallengeType::Http01)
                .ok_or_else(|| {
                    Failure::Refused(vec!["the CA offers no http-01 challenge".into()])
                })?;
            answer = Some((
                challenge.token.clone(),
                challenge.key_authorization().as_str().to_string(),
            ));
        }
    }
    work.state.order_url = Some(order.url().to_string());
    if let Some((token, key_authorization)) = answer {
        work.state.token = Some(token);
        work.state.key_authorization = Some(key_authorization);
    }
    work.state.status = ManagedStatus::PendingValidation;
    Ok(())
}

/// Tells the CA the answer is published (it already is: the previous step committed it)
/// and waits for its verdict. Validated: the order's key is generated and sealed.
async fn validate(
    state: &AppState,
    account: &Account,
    work: &mut ManagedWork,
) -> Result<(), Failure> {
    let url = work.state.order_url.clone().unwrap_or_default();
    let mut order = account.order(url).await?;
    if order.state().status == OrderStatus::Pending {
        {
            let mut authorizations = order.authorizations();
            while let Some(authorization) = authorizations.next().await {
                let mut authorization = authorization?;
                if authorization.status != AuthorizationStatus::Pending {
                    continue;
                }
                if let Some(mut challenge) = authorization.challenge(ChallengeType::Http01)
                    && challenge.status == ChallengeStatus::Pending
                {
                    challenge.set_ready().await?;
                }
            }
        }
        match order.poll_ready(&RetryPolicy::new().timeout(CA_WAIT)).await {
            // An invalid order carries its error; the authorizations say more, below.
            Ok(_) | Err(instant_acme::Error::Api(_)) => {}
            Err(other) => return Err(other.into()),
        }
        order.refresh().await?;
    }
    match order.state().status {
        OrderStatus::Ready | OrderStatus::Processing | OrderStatus::Valid => {}
        OrderStatus::Invalid => return Err(Failure::Refused(refusals(&mut order).await)),
        OrderStatus::Pending => return Err(Failure::Waiting),
    }
    if work.pending_key.is_none() {
        let master_key = std::sync::Arc::clone(&state.master_key);
        let sealed = state
            .keys
            .with_new_key(work.state.key_type, move |key| {
                StoredKey::seal(&key, &master_key)
            })
            .await
            .map_err(|error| Failure::Transient(format!("key: {error}")))?;
        work.pending_key = Some(sealed);
    }
    work.state.status = ManagedStatus::PendingIssuance;
    work.state.validation_errors.clear();
    work.state.attempts = 0;
    Ok(())
}

/// What the CA said about an invalid order: each challenge's error, else the order's.
async fn refusals(order: &mut Order) -> Vec<String> {
    let mut messages = Vec::new();
    let order_error = order.state().error.as_ref().map(describe);
    let mut authorizations = order.authorizations();
    while let Some(Ok(authorization)) = authorizations.next().await {
        for challenge in &authorization.challenges {
            if let Some(problem) = &challenge.error {
                messages.push(describe(problem));
            }
        }
    }
    if messages.is_empty() {
        messages.push(
            order_error
                .unwrap_or_else(|| "the CA marked the order invalid without saying why".into()),
        );
    }
    messages
}

/// Finalizes the order with a CSR for the pending key and downloads the chain.
async fn issue(state: &AppState, account: &Account, work: &mut ManagedWork) -> Result<(), Failure> {
    let url = work.state.order_url.clone().unwrap_or_default();
    let mut order = account.order(url).await?;
    if order.state().status == OrderStatus::Ready {
        let sealed = work
            .pending_key
            .clone()
            .ok_or_else(|| Failure::Transient("issuance without a pending key".into()))?;
        let master_key = std::sync::Arc::clone(&state.master_key);
        let hostname = work.hostname.clone();
        let csr = state
            .keys
            .run(move || build_dv_csr(&hostname, &sealed.open(&master_key)?))
            .await
            .map_err(|error| Failure::Transient(format!("CSR: {error}")))?;
        order.finalize_csr(&csr).await?;
    }
    match order.state().status {
        OrderStatus::Invalid => return Err(Failure::Refused(refusals(&mut order).await)),
        OrderStatus::Pending => {
            // Validation lapsed meanwhile: validate again.
            work.state.status = ManagedStatus::PendingValidation;
            return Ok(());
        }
        _ => {}
    }
    let chain = order
        .poll_certificate(&RetryPolicy::new().timeout(CA_WAIT))
        .await?;
    work.pending_certificate = Some(chain);
    work.state.status = ManagedStatus::PendingDeployment;
    Ok(())
}

/// Checks the chain against the pending key and the hostname, then makes it the hostname's
/// certificate in one transaction with the lifecycle's move to active.
async fn deploy(state: &AppState, work: &mut ManagedWork) -> Result<(), Failure> {
    let (Some(chain), Some(key)) = (&work.pending_certificate, &work.pending_key) else {
        // Nothing downloaded (a lost write): issue again.
        work.state.status = ManagedStatus::PendingIssuance;
        return Err(Failure::Transient(
            "deployment without a certificate".into(),
        ));
    };
    let now = state.clock.now();
    let (chain, spki, hostname) = (chain.clone(), key.spki_der.clone(), work.hostname.clone());
    let trust = std::sync::Arc::clone(&state.trust);
    // Parsed on a blocking thread under the upload limit, like an uploaded chain.
    let verified = state
        .verifications
        .run(move || {
            let request = UploadRequest {
                certificate_pem: &chain,
                expected_spki_der: &spki,
                hostname: Some(&hostname),
                // The CA's roots are not edgecert's business: it serves what the CA issued.
                verify_trust: false,
                min_remaining: None,
                now: now.into(),
                strict: false,
            };
            verify_upload(&request, &trust)
        })
        .await
        .map_err(|error| Failure::Transient(format!("issued certificate: {error}")))?
        .map_err(|problem| Failure::Transient(format!("issued certificate: {problem}")))?;
    let certificate = StoredCertificate {
        bundle_pem: verified.bundle_pem,
        issuer: verified.issuer,
        serial_number: verified.serial_number,
        signature: verified.signature,
        hosts: verified.hosts,
        issued_on: verified.not_before,
        expires_on: verified.not_after,
        uploaded_on: now,
        fingerprint_sha256: verified.fingerprint_sha256,
    };
    let lifecycle = &mut work.state;
    lifecycle.status = ManagedStatus::Active;
    lifecycle.renewing = false;
    lifecycle.attempts = 0;
    lifecycle.validation_errors.clear();
    lifecycle.order_url = None;
    lifecycle.token = None;
    lifecycle.key_authorization = None;
    lifecycle.due_at = Some(renewal_at(certificate.issued_on, certificate.expires_on));
    state.store.deploy_managed(work, &certificate).await?;
    Ok(())
}
