//! A deterministic synthetic population for demos, tests and benchmarks.
//!
//! The same `(count, seed)` always gives the same patients, whatever the date: ages are
//! drawn relative to a fixed reference date. About a quarter have a lung condition (the
//! first campaign's audience), some have no phone or no email, a few have neither, and a
//! few have opted out of SMS or email. NHS numbers come from the `99x` range, which is not
//! issued to real patients, and phone numbers from Ofcom's range kept for drama
//! (`07700 900xxx`) where the population is small enough, otherwise from unallocated-looking
//! `07700 9xxxxx` numbers; emails use `example.org`.

use super::{ConditionCode, Email, NhsNumber, Patient, Phone, Postcode, Sex};
use chrono::NaiveDate;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;

/// The condition codes counted as "a lung condition" by the demo campaign.
pub const LUNG_CONDITIONS: [&str; 5] =
    ["asthma", "copd", "bronchiectasis", "cystic_fibrosis", "ild"];

const OTHER_CONDITIONS: [&str; 6] = [
    "diabetes",
    "hypertension",
    "ckd",
    "chd",
    "heart_failure",
    "obesity",
];

const FEMALE: [&str; 24] = [
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Sophia", "Lily", "Freya", "Emily", "Ivy",
    "Ella", "Margaret", "Patricia", "Susan", "Jean", "Siobhan", "Aisha", "Priya", "Fatima", "Zoe",
    "Catrin", "Eilidh", "Niamh",
];
const MALE: [&str; 24] = [
    "Oliver", "George", "Noah", "Arthur", "Leo", "Harry", "Oscar", "Jack", "Charlie", "Thomas",
    "David", "John", "Michael", "Peter", "Robert", "Mohammed", "Arjun", "Dylan", "Rhys", "Callum",
    "Sean", "Kwame", "Tomasz", "Ewan",
];
const FAMILY: [&str; 32] = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Khan",
    "Lewis",
    "Harris",
    "Clarke",
    "Jackson",
    "Wood",
    "Hughes",
    "O'Brien",
    "MacDonald",
    "Nowak",
    "Okafor",
    "Singh",
    "Begum",
    "Campbell",
];
const OUTWARD: [&str; 40] = [
    "SW1A", "SE1", "E1", "N1", "NW3", "W2", "EC1A", "B1", "B15", "M1", "M14", "L1", "L8", "LS1",
    "LS6", "S1", "NE1", "BS1", "BS8", "CF10", "CF24", "EH1", "EH6", "G1", "G12", "AB10", "BT1",
    "NG1", "LE1", "CB1", "OX1", "PL1", "EX1", "SO14", "BN1", "CV1", "HU1", "DE1", "ST1", "YO1",
];
const INWARD_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateOptions {
    /// How many patients.
    pub count: usize,
    /// The random seed: the same seed gives the same population.
    pub seed: u64,
}

/// Generates `options.count` valid patients, deterministically from `options.seed`.
pub fn generate(options: GenerateOptions) -> Vec<Patient> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let reference = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
    let mut nhs_stem: u64 = 990_000_000 + rng.gen_range(0..1_000) * 1_000;
    let drama_range = options.count <= 1_000;
    (0..options.count)
        .map(|i| {
            let nhs_number = next_nhs_number(&mut nhs_stem);
            one_patient(&mut rng, i, nhs_number, reference, drama_range)
        })
        .collect()
}

fn next_nhs_number(stem: &mut u64) -> NhsNumber {
    loop {
        let digits: Vec<u32> = format!("{:09}", *stem % 1_000_000_000)
            .bytes()
            .map(|b| u32::from(b - b'0'))
            .collect();
        *stem += 1;
        if let Some(check) = NhsNumber::check_digit(&digits) {
            let text: String = digits
                .iter()
                .chain([&check])
                .map(|d| char::from(b'0' + *d as u8))
                .collect();
            return NhsNumber::parse(&text).expect("generated NHS numbers are valid");
        }
    }
}

fn one_patient(
    rng: &mut ChaCha8Rng,
    i: usize,
    nhs_number: NhsNumber,
    reference: NaiveDate,
    drama_range: bool,
) -> Patient {
    let sex = match rng.gen_range(0..100) {
        0..=48 => Sex::Female,
        49..=97 => Sex::Male,
        98 => Sex::Other,
        _ => Sex::Unknown,
    };
    let given = match sex {
        Sex::Female => FEMALE.choose(rng),
        Sex::Male => MALE.choose(rng),
        _ => FEMALE
            .iter()
            .chain(MALE.iter())
            .collect::<Vec<_>>()
            .choose(rng)
            .copied(),
    }
    .expect("non-empty name list");
    let family = FAMILY.choose(rng).expect("non-empty name list");

    let lung = rng.gen_bool(0.25);
    let mut conditions = BTreeSet::new();
    if lung {
        for _ in 0..rng.gen_range(1..=2) {
            conditions.insert(code(LUNG_CONDITIONS.choose(rng).expect("non-empty")));
        }
    }
    if rng.gen_bool(0.3) {
        conditions.insert(code(OTHER_CONDITIONS.choose(rng).expect("non-empty")));
    }
    // Lung conditions are commoner with age: skew those patients older.
    let age_days = if lung {
        rng.gen_range(5 * 365..95 * 365)
    } else {
        rng.gen_range(0..100 * 365)
    };
    let date_of_birth = reference - chrono::Duration::days(age_days);

    let contact = rng.gen_range(0..100);
    let has_phone = contact >= 10 || (3..6).contains(&contact);
    let has_email = contact >= 25 || (6..10).contains(&contact);
    let phone = has_phone.then(|| {
        let number = if drama_range {
            format!("+447700900{:03}", i % 1000)
        } else {
            format!("+4477009{:05}", rng.gen_range(0..100_000))
        };
        Phone::parse(&number).expect("generated phone numbers are valid")
    });
    let email = has_email.then(|| {
        let local: String = format!("{given}.{family}")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .chain(".".chars())
            .collect::<String>()
            .to_ascii_lowercase();
        Email::parse(&format!("{local}{i}@example.org")).expect("generated emails are valid")
    });
    let inward = format!(
        "{}{}{}",
        rng.gen_range(0..10),
        char::from(*INWARD_LETTERS.choose(rng).expect("non-empty")),
        char::from(*INWARD_LETTERS.choose(rng).expect("non-empty")),
    );
    let postcode = Postcode::parse(&format!(
        "{} {inward}",
        OUTWARD.choose(rng).expect("non-empty")
    ))
    .expect("generated postcodes are valid");

    Patient {
        external_id: format!("P{:07}", i + 1),
        nhs_number: Some(nhs_number),
        given_name: (*given).to_string(),
        family_name: (*family).to_string(),
        date_of_birth,
        sex,
        phone,
        email,
        postcode,
        conditions,
        sms_opt_out: rng.gen_bool(0.03),
        email_opt_out: rng.gen_bool(0.02),
    }
}

fn code(s: &str) -> ConditionCode {
    ConditionCode::parse(s).expect("built-in codes are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_realistic() {
        let a = generate(GenerateOptions {
            count: 4000,
            seed: 7,
        });
        assert_eq!(
            a,
            generate(GenerateOptions {
                count: 4000,
                seed: 7
            })
        );
        assert_ne!(
            a,
            generate(GenerateOptions {
                count: 4000,
                seed: 8
            })
        );
        let lung = a
            .iter()
            .filter(|p| LUNG_CONDITIONS.iter().any(|c| p.has_condition(c)))
            .count();
        assert!(
            (800..1200).contains(&lung),
            "about a quarter have a lung condition: {lung}"
        );
        assert!(a.iter().any(|p| p.phone.is_none() && p.email.is_none()));
        assert!(a.iter().any(|p| p.phone.is_some() && p.email.is_none()));
        assert!(a.iter().any(|p| p.sms_opt_out) && a.iter().any(|p| p.email_opt_out));
        let ids: BTreeSet<_> = a.iter().map(|p| p.nhs_number.clone()).collect();
        assert_eq!(ids.len(), a.len(), "NHS numbers are unique");
    }
}
