//! Mail larger than one request on the client (issue 12 §1; rules in proto's
//! `paep::transfer`): [`Session::send_envelope`] uploads a large envelope's Z to the own
//! gateway in chunks under a fresh upload id, resuming from what the gateway says it holds,
//! then sends the envelope without Z; [`Session::fetch_mail`] fetches a mail the gateway
//! cannot answer whole by parts and puts it together. The hash of Z is checked where every
//! mail's is: `open_envelope` verifies sig_A, which covers H(Z), before decrypting.

use herald_proto::paep::transfer::{self, check_total};
use herald_proto::wire::client::{expect_mail_accepted, expect_mail_part, expect_upload_progress};
use herald_proto::wire::{UPLOAD_ID_BYTES, pb};
use rand_core::Rng as _;

use crate::gateway::Gateway;
use crate::session::{Session, SessionError, SessionStore, answer_error};

/// A mail that does not put together (the gateway answered parts of different mails or
/// lengths): reported as a malformed answer.
fn bad_parts(what: &'static str) -> SessionError {
    SessionError::Mail(herald_proto::paep::MailError::Wire(
        herald_proto::wire::WireError::Inconsistent {
            field: "MailPart",
            reason: what,
        },
    ))
}

impl<S: SessionStore> Session<S> {
    /// Uploads `envelope`'s Z in chunks and sends it (see the module docs).
    pub(crate) async fn upload_and_send<G: Gateway>(
        &mut self,
        gateway: &G,
        envelope: pb::MailEnvelope,
        expires_at: u64,
    ) -> Result<pb::MailAccepted, SessionError> {
        let mut upload_id = [0u8; UPLOAD_ID_BYTES];
        rand_core::UnwrapErr(getrandom::SysRng).fill_bytes(&mut upload_id);
        let z = &envelope.ciphertext;
        let total = z.len() as u64;
        let mut offset = 0u64;
        while offset < total {
            let end = (offset as usize + herald_proto::wire::MAIL_CHUNK_BYTES).min(z.len());
            let request = pb::SessionRequest::upload_chunk(
                &upload_id,
                total,
                offset,
                &z[offset as usize..end],
            );
            let response = self.request(gateway, &request).await?;
            let progress = expect_upload_progress(response, &upload_id).map_err(answer_error)?;
            offset = progress.received.max(end as u64);
        }
        let request = pb::SessionRequest::send_uploaded_mail(
            &upload_id,
            transfer::head_of(&envelope),
            expires_at,
        );
        let response = self.request(gateway, &request).await?;
        expect_mail_accepted(response).map_err(answer_error)
    }

    /// Mail `id` fetched by parts and put together (see the module docs).
    pub(crate) async fn fetch_by_parts<G: Gateway>(
        &mut self,
        gateway: &G,
        id: u64,
    ) -> Result<pb::StoredMail, SessionError> {
        let mut z: Vec<u8> = Vec::new();
        let mut first: Option<(pb::StoredMail, u64)> = None;
        loop {
            let offset = z.len() as u64;
            let response = self
                .request(gateway, &pb::SessionRequest::fetch_mail_part(id, offset))
                .await?;
            let part = expect_mail_part(response, id, offset).map_err(answer_error)?;
            let head = part.head.unwrap_or_default();
            match &first {
                None => {
                    check_total(part.total_len).map_err(|_| bad_parts("a length out of range"))?;
                    z.reserve_exact(part.total_len as usize);
                    first = Some((head, part.total_len));
                }
                Some((h, total)) if *h == head && *total == part.total_len => {}
                Some(_) => return Err(bad_parts("parts of different mails")),
            }
            z.extend_from_slice(&part.data);
            let total = first.as_ref().map_or(0, |(_, t)| *t);
            if z.len() as u64 >= total {
                break;
            }
        }
        let (mut head, total) = first.ok_or_else(|| bad_parts("no part"))?;
        let envelope = transfer::assemble(head.envelope.take().unwrap_or_default(), z, total)
            .map_err(|_| bad_parts("parts that do not make the mail"))?;
        head.envelope = Some(envelope);
        Ok(head)
    }
}
