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
    ($name:ident $(, $rest:ident)* $(,)?) => {
        $crate::store::forward::shared_core!(@signature $name);
        $crate::store::forward::shared_core!($($rest),*);
    };

    // One forwarding method, in `async_trait`'s shape.
    (@forward $name:ident <$($lt:lifetime),*> ($($arg:ident : $ty:ty),*) -> $ret:ty) => {
        fn $name<'life0, $($lt,)* 'async_trait>(
            &'life0 self,
            $($arg: $ty),*
        ) -> ::futures::future::BoxFuture<'async_trait, $crate::error::Result<$ret>>
        where
            'life0: 'async_trait,
            $($lt: 'async_trait,)*
            Self: 'async_trait,
        {
            ::std::boxed::Box::pin(async move { self.shared().$name($($arg),*).await })
        }
    };

    // The signatures, by method (every borrowed argument has its own lifetime).
    (@signature upsert_patients) => { $crate::store::forward::shared_core!(@forward upsert_patients
        <'a> (patients: &'a [$crate::patient::Patient]) -> $crate::store::UpsertCounts); };
    (@signature count_patients) => { $crate::store::forward::shared_core!(@forward count_patients
        <'a> (filter: &'a $crate::filter::AnyFilter, today: ::chrono::NaiveDate) -> u64); };
    (@signature matching_contacts) => { $crate::store::forward::shared_core!(@forward matching_contacts
        <'a> (filter: &'a $crate::filter::AnyFilter, today: ::chrono::NaiveDate)
        -> Vec<$crate::campaign::PatientContact>); };
    (@signature all_patients) => { $crate::store::forward::shared_core!(@forward all_patients
        <> () -> Vec<($crate::patient::PatientId, $crate::patient::Patient)>); };
    (@signature create_form) => { $crate::store::forward::shared_core!(@forward create_form
        <'a, 'b> (spec: &'a $crate::form::FormSpec, page_location: &'b str,
                  now: ::chrono::DateTime<::chrono::Utc>) -> $crate::store::StoredForm); };
    (@signature form) => { $crate::store::forward::shared_core!(@forward form
        <> (id: $crate::campaign::FormId) -> $crate::store::StoredForm); };
    (@signature form_by_name) => { $crate::store::forward::shared_core!(@forward form_by_name
        <'a> (name: &'a str) -> $crate::store::StoredForm); };
    (@signature forms) => { $crate::store::forward::shared_core!(@forward forms
        <> () -> Vec<$crate::store::StoredForm>); };
    (@signature campaign) => { $crate::store::forward::shared_core!(@forward campaign
        <> (id: $crate::campaign::CampaignId) -> $crate::campaign::Campaign); };
    (@signature campaigns) => { $crate::store::forward::shared_core!(@forward campaigns
        <> () -> Vec<$crate::campaign::Campaign>); };
    (@signature set_campaign_state) => { $crate::store::forward::shared_core!(@forward set_campaign_state
        <'a> (id: $crate::campaign::CampaignId, from: &'a [$crate::campaign::CampaignState],
              to: $crate::campaign::CampaignState) -> ()); };
    (@signature recipient_count) => { $crate::store::forward::shared_core!(@forward recipient_count
        <> (id: $crate::campaign::CampaignId) -> u64); };
    (@signature delivery_counts) => { $crate::store::forward::shared_core!(@forward delivery_counts
        <> (campaign: $crate::campaign::CampaignId) -> Vec<$crate::campaign::DeliveryCount>); };
    (@signature retry_failed) => { $crate::store::forward::shared_core!(@forward retry_failed
        <> (campaign: $crate::campaign::CampaignId) -> u64); };
    (@signature link) => { $crate::store::forward::shared_core!(@forward link
        <'a> (token_hash: &'a $crate::link::TokenHash) -> Option<$crate::store::LinkRecord>); };
    (@signature record_open) => { $crate::store::forward::shared_core!(@forward record_open
        <> (recipient_id: i64, now: ::chrono::DateTime<::chrono::Utc>) -> ()); };
    (@signature submit_response) => { $crate::store::forward::shared_core!(@forward submit_response
        <'a, 'b> (recipient_id: i64, form: &'a $crate::store::StoredForm,
                  answers: &'b $crate::form::Answers, now: ::chrono::DateTime<::chrono::Utc>)
        -> $crate::store::SubmitOutcome); };
    (@signature plan_reminder_round) => { $crate::store::forward::shared_core!(@forward plan_reminder_round
        <> (campaign: $crate::campaign::CampaignId, round: i32,
            now: ::chrono::DateTime<::chrono::Utc>) -> u64); };
    (@signature suppress_responded) => { $crate::store::forward::shared_core!(@forward suppress_responded
        <> (campaign: $crate::campaign::CampaignId, round: i32,
            now: ::chrono::DateTime<::chrono::Utc>) -> u64); };
    (@signature rounds) => { $crate::store::forward::shared_core!(@forward rounds
        <> (campaign: $crate::campaign::CampaignId) -> Vec<$crate::store::RoundInfo>); };
    (@signature round_non_respondents) => { $crate::store::forward::shared_core!(@forward round_non_respondents
        <> (campaign: $crate::campaign::CampaignId, round: i32) -> Vec<i64>); };
    (@signature non_respondents) => { $crate::store::forward::shared_core!(@forward non_respondents
        <> (campaign: $crate::campaign::CampaignId) -> Vec<$crate::store::NonRespondent>); };
    (@signature tracking_counts) => { $crate::store::forward::shared_core!(@forward tracking_counts
        <> (campaign: $crate::campaign::CampaignId) -> $crate::store::TrackingCounts); };
    (@signature record_costs) => { $crate::store::forward::shared_core!(@forward record_costs
        <'a> (costs: &'a [$crate::store::DeliveryCost]) -> ()); };
    (@signature set_budget) => { $crate::store::forward::shared_core!(@forward set_budget
        <> (campaign: $crate::campaign::CampaignId, budget: Option<$crate::notify::Money>) -> ()); };
    (@signature suppress_opened) => { $crate::store::forward::shared_core!(@forward suppress_opened
        <> (campaign: $crate::campaign::CampaignId, round: i32,
            now: ::chrono::DateTime<::chrono::Utc>) -> u64); };
    (@signature recorded_spend) => { $crate::store::forward::shared_core!(@forward recorded_spend
        <> (campaign: $crate::campaign::CampaignId) -> Vec<$crate::store::RecordedSpend>); };
    (@signature measured_opens) => { $crate::store::forward::shared_core!(@forward measured_opens
        <> (except: $crate::campaign::CampaignId) -> $crate::store::MeasuredOpens); };
    (@signature recipient_tracking) => { $crate::store::forward::shared_core!(@forward recipient_tracking
        <> (recipient_id: i64) -> $crate::store::RecipientTracking); };
    (@signature append_event) => { $crate::store::forward::shared_core!(@forward append_event
        <'a> (event: &'a $crate::audit::AuditEvent) -> $crate::audit::LedgerEntry); };
    (@signature audit_head) => { $crate::store::forward::shared_core!(@forward audit_head
        <> () -> (i64, [u8; 32])); };
    (@signature audit_entries) => { $crate::store::forward::shared_core!(@forward audit_entries
        <> (after: i64, limit: u32) -> Vec<$crate::audit::LedgerEntry>); };
}

pub(crate) use shared_core;
