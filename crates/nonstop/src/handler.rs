//! What a handler is: code given a [`Context`] and an [`Envelope`] that returns a
//! [`HandlerResult`]. The router is one; delivery's dispatcher runs whichever the app holds.

use std::future::Future;
use std::pin::Pin;

use crate::context::Context;
use crate::envelope::Envelope;

/// Whatever a handler's failure is; it is logged and recorded with the envelope.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;
pub type HandlerResult = Result<(), HandlerError>;
pub type HandlerFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;

/// Code that handles envelopes. Any `Fn(Context, Envelope) -> impl Future<Output =
/// HandlerResult>` is a handler.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, ctx: Context, envelope: Envelope) -> HandlerFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(Context, Envelope) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn handle(&self, ctx: Context, envelope: Envelope) -> HandlerFuture {
        Box::pin(self(ctx, envelope))
    }
}
