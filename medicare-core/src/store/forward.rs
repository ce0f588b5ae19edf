//! The trait methods a backend takes from the shared core unchanged, written once.
//!
//! Most `Store` methods run the same statements on every engine ([`super::shared`]); a
//! backend's trait impl names those in one line, `shared_core!(campaign, campaigns);`,
//! beside the methods it writes its own way, and each becomes
//! `self.shared().<method>(<arguments>).await`. The backend only needs a
//! `fn shared(&self) -> Shared<'_, DB>`.
//!
//! The impls are `#[async_trait]`, which rewrites only the `async fn`s it sees, not
//! what a macro expands to later; so the forwarding methods are written here in the
//! shape `async_trait` gives trait methods (a boxed `Send` future living as long as
//! every borrowed argument). The signature table below is the one place each shared
//! method's signature is repeated outside its trait; a mismatch fails to compile.

/// Expands, inside a backend's `#[async_trait] impl` of a store trait, to the listed
/// methods, each forwarding to the same method of the backend's shared core.
macro_rules! shared_core {
    () => {};
    (retrying:) => {};
    (retrying: $name:ident $(, $rest:ident)* $(,)?) => {
        $crate::store::forward::shared_core!(@signature retrying $name);
        $crate::store::forward::shared_core!(retrying: $($rest),*);
    };
    ($name:ident $(, $rest:ident)* $(,)?) => {
        $crate::store::forward::shared_core!(@signature direct $name);
        $crate::store::forward::shared_core!($($rest),*);
    };

    // The call itself: straight through, or run again whole while the backend says the
    // failure was transient (`self.retry_transient`, e.g. a deadlock victim).
    (@call $this:ident direct $name:ident ($($arg:ident),*)) => {
        $this.shared().$name($($arg),*).await
    };
    (@call $this:ident retrying $name:ident ($($arg:ident),*)) => {
        $this.retry_transient(|| async move { $this.shared().$name($($arg),*).await }).await
    };

    // One forwarding method, in `async_trait`'s shape.
    (@forward $mode:ident $name:ident <$($lt:lifetime),*> ($($arg:ident : $ty:ty),*) -> $ret:ty) => {
        fn $name<'life0, $($lt,)* 'async_trait>(
            &'life0 self,
            $($arg: $ty),*
        ) -> ::futures::future::BoxFuture<'async_trait, $crate::error::Result<$ret>>
        where
            'life0: 'async_trait,
            $($lt: 'async_trait,)*
            Self: 'async_trait,
        {
            ::std::boxed::Box::pin(async move {
                $crate::store::forward::shared_core!(@call self $mode $name ($($arg),*))
            })
        }
    };

    // The signatures, by method (every borrowed argument has its own lifetime).
    (@signature $mode:ident upsert_patients) => { $crate::store::forward::shared_core!(@forward $mode upsert_patients
        <'a> (patients: &'a [$crate::patient::Patient]) -> $crate::store::UpsertCounts); };
    (@signature $mode:ident count_patients) => { $crate::store::forward::shared_core!(@forward $mode count_patients
        <'a> (filter: &'a $crate::filter::AnyFilter, today: ::chrono::NaiveDate) -> u64); };
    (@signature $mode:ident matching_contacts) => { $crate::store::forward::shared_core!(@forward $mode matching_contacts
        <'a> (filter: &'a $crate::filter::AnyFilter, today: ::chrono::NaiveDate)
        -> Vec<$crate::campaign::PatientContact>); };
    (@signature $mode:ident all_patients) => { $crate::store::forward::shared_core!(@forward $mode all_patients
        <> () -> Vec<($crate::patient::PatientId, $crate::patient::Patient)>); };
    (@signature $mode:ident create_form) => { $crate::store::forward::shared_core!(@forward $mode create_form
        <'a, 'b> (spec: &'a $crate::form::FormSpec, page_location: &'b str,
                  now: ::chrono::DateTime<::chrono::Utc>) -> $crate::store::StoredForm); };
    (@signature $mode:ident form) => { $crate::store::forward::shared_core!(@forward $mode form
        <> (id: $crate::campaign::FormId) -> $crate::store::StoredForm); };
    (@signature $mode:ident form_by_name) => { $crate::store::forward::shared_core!(@forward $mode form_by_name
        <'a> (name: &'a str) -> $crate::store::StoredForm); };
    (@signature $mode:ident forms) => { $crate::store::forward::shared_core!(@forward $mode forms
        <> () -> Vec<$crate::store::StoredForm>); };
    (@signature $mode:ident campaign) => { $crate::store::forward::shared_core!(@forward $mode campaign
        <> (id: $crate::campaign::CampaignId) -> $crate::campaign::Campaign); };
    (@signature $mode:ident campaigns) => { $crate::store::forward::shared_core!(@forward $mode campaigns
        <> () -> Vec<$crate::campaign::Campaign>); };
    (@signature $mode:ident set_campaign_state) => { $crate::store::forward::shared_core!(@forward $mode set_campaign_state
        <'a> (id: $crate::campaign::CampaignId, from: &'a [$crate::campaign::CampaignState],
              to: $crate::campaign::CampaignState) -> ()); };
    (@signature $mode:ident recipient_count) => { $crate::store::forward::shared_core!(@forward $mode recipient_count
        <> (id: $crate::campaign::CampaignId) -> u64); };
    (@signature $mode:ident delivery_counts) => { $crate::store::forward::shared_core!(@forward $mode delivery_counts
        <> (campaign: $crate::campaign::CampaignId) -> Vec<$crate::campaign::DeliveryCount>); };
    (@signature $mode:ident queued) => { $crate::store::forward::shared_core!(@forward $mode queued
        <> (campaign: $crate::campaign::CampaignId, round: i32) -> Vec<($crate::notify::Channel, u64)>); };
    (@signature $mode:ident queued_rounds) => { $crate::store::forward::shared_core!(@forward $mode queued_rounds
        <> (campaign: $crate::campaign::CampaignId) -> Vec<i32>); };
    (@signature $mode:ident retry_failed) => { $crate::store::forward::shared_core!(@forward $mode retry_failed
        <> (campaign: $crate::campaign::CampaignId) -> u64); };
    (@signature $mode:ident link) => { $crate::store::forward::shared_core!(@forward $mode link
        <'a> (token_hash: &'a $crate::link::TokenHash) -> Option<$crate::store::LinkRecord>); };
    (@signature $mode:ident record_opens) => { $crate::store::forward::shared_core!(@forward $mode record_opens
        <'a> (opens: &'a [$crate::store::LinkOpen]) -> ()); };
    (@signature $mode:ident submit_responses) => { $crate::store::forward::shared_core!(@forward $mode submit_responses
        <'a> (submissions: &'a [$crate::store::Submission]) -> Vec<$crate::store::SubmitOutcome>); };
    (@signature $mode:ident plan_reminder_round) => { $crate::store::forward::shared_core!(@forward $mode plan_reminder_round
        <> (campaign: $crate::campaign::CampaignId, round: i32,
            now: ::chrono::DateTime<::chrono::Utc>) -> u64); };
    (@signature $mode:ident suppress_responded) => { $crate::store::forward::shared_core!(@forward $mode suppress_responded
        <> (campaign: $crate::campaign::CampaignId, round: i32,
            now: ::chrono::DateTime<::chrono::Utc>) -> u64); };
    (@signature $mode:ident rounds) => { $crate::store::forward::shared_core!(@forward $mode rounds
        <> (campaign: $crate::campaign::CampaignId) -> Vec<$crate::store::RoundInfo>); };
    (@signature $mode:ident round_non_respondents) => { $crate::store::forward::shared_core!(@forward $mode round_non_respondents
        <> (campaign: $crate::campaign::CampaignId, round: i32) -> Vec<i64>); };
    (@signature $mode:ident non_respondents) => { $crate::store::forward::shared_core!(@forward $mode non_respondents
        <> (campaign: $crate::campaign::CampaignId) -> Vec<$crate::store::NonRespondent>); };
    (@signature $mode:ident tracking_counts) => { $crate::store::forward::shared_core!(@forward $mode tracking_counts
        <> (campaign: $crate::campaign::CampaignId) -> $crate::store::TrackingCounts); };
    (@signature $mode:ident set_budget) => { $crate::store::forward::shared_core!(@forward $mode set_budget
        <> (campaign: $crate::campaign::CampaignId, budget: Option<$crate::notify::Money>) -> ()); };
    (@signature $mode:ident suppress_opened) => { $crate::store::forward::shared_core!(@forward $mode suppress_opened
        <> (campaign: $crate::campaign::CampaignId, round: i32,
            now: ::chrono::DateTime<::chrono::Utc>) -> u64); };
    (@signature $mode:ident recorded_spend) => { $crate::store::forward::shared_core!(@forward $mode recorded_spend
        <> (campaign: $crate::campaign::CampaignId) -> Vec<$crate::store::RecordedSpend>); };
    (@signature $mode:ident measured_opens) => { $crate::store::forward::shared_core!(@forward $mode measured_opens
        <> (except: $crate::campaign::CampaignId) -> $crate::store::MeasuredOpens); };
    (@signature $mode:ident recipient_tracking) => { $crate::store::forward::shared_core!(@forward $mode recipient_tracking
        <> (recipient_id: i64) -> $crate::store::RecipientTracking); };
    (@signature $mode:ident append_event) => { $crate::store::forward::shared_core!(@forward $mode append_event
        <'a> (event: &'a $crate::audit::AuditEvent) -> $crate::audit::LedgerEntry); };
    (@signature $mode:ident audit_head) => { $crate::store::forward::shared_core!(@forward $mode audit_head
        <> () -> (i64, [u8; 32])); };
    (@signature $mode:ident audit_entries) => { $crate::store::forward::shared_core!(@forward $mode audit_entries
        <> (after: i64, limit: u32) -> Vec<$crate::audit::LedgerEntry>); };
}

pub(crate) use shared_core;
