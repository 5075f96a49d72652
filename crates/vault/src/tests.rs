//! Unit tests for sealing, binding, tampering, rotation and master key loading.

use super::*;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

const AAD: Aad<'static> =
    Aad { purpose: "card", merchant_id: "imp_12345678", subject: "customer_1" };

fn test_vault() -> Vault {
    Vault::from_master_key([7u8; 32])
}

#[test]
fn roundtrip() {
    let v = test_vault();
    for plain in [&b""[..], b"4111111111111111", &[0u8, 255, 1, 2][..], &[0x5a; 10_000][..]] {
        let sealed = v.seal(plain, &AAD).expect("seal");
        assert!(sealed.is_ascii());
        assert!(sealed.starts_with(&format!("v1.{}.", v.key_id())));
        assert_eq!(&v.open(&sealed, &AAD).expect("open")[..], plain);
    }
    let sealed = v.seal_str("1234-5678", &AAD).expect("seal_str");
    assert_eq!(&*v.open_str(&sealed, &AAD).expect("open_str"), "1234-5678");
}

#[test]
fn same_plaintext_seals_differently() {
    let v = test_vault();
    let a = v.seal(b"same", &AAD).expect("seal");
    let b = v.seal(b"same", &AAD).expect("seal");
    assert_ne!(a, b);
}

#[test]
fn open_str_of_non_utf8_is_malformed() {
    let v = test_vault();
    let sealed = v.seal(&[0xff, 0xfe], &AAD).expect("seal");
    assert!(matches!(v.open_str(&sealed, &AAD), Err(VaultError::Malformed)));
}

#[test]
fn other_aad_fails() {
    let v = test_vault();
    let sealed = v.seal(b"secret", &AAD).expect("seal");
    let others = [
        Aad { purpose: "billing_key", ..AAD },
        Aad { merchant_id: "imp_87654321", ..AAD },
        Aad { subject: "customer_2", ..AAD },
        Aad { subject: "", ..AAD },
    ];
    for other in others {
        assert!(matches!(v.open(&sealed, &other), Err(VaultError::OpenFailed)), "{other:?}");
        assert!(matches!(
            v.rewrap(&sealed, &other, &Vault::generate()),
            Err(VaultError::OpenFailed)
        ));
    }
}

#[test]
fn shifted_aad_fields_fail() {
    let v = test_vault();
    let a = Aad { purpose: "ab", merchant_id: "c", subject: "d" };
    let b = Aad { purpose: "a", merchant_id: "bc", subject: "d" };
    let c = Aad { purpose: "a", merchant_id: "b", subject: "cd" };
    let sealed = v.seal(b"x", &a).expect("seal");
    assert!(matches!(v.open(&sealed, &b), Err(VaultError::OpenFailed)));
    assert!(matches!(v.open(&sealed, &c), Err(VaultError::OpenFailed)));
}

#[test]
fn other_master_key_is_key_mismatch() {
    let sealed = test_vault().seal(b"secret", &AAD).expect("seal");
    let other = Vault::generate();
    assert_ne!(other.key_id(), test_vault().key_id());
    assert!(matches!(other.open(&sealed, &AAD), Err(VaultError::KeyMismatch)));
}

#[test]
fn other_master_key_with_forged_key_id_fails() {
    // Even if the key id in the text is rewritten to match, the wrap does not open.
    let sealed = test_vault().seal(b"secret", &AAD).expect("seal");
    let other = Vault::generate();
    let forged = sealed.replacen(test_vault().key_id(), other.key_id(), 1);
    assert!(matches!(other.open(&forged, &AAD), Err(VaultError::OpenFailed)));
}

/// Flips one bit in every byte of the given field (2 = wrapped key, 3 = payload) in turn.
fn assert_every_byte_tamper_fails(v: &Vault, sealed: &str, field: usize) {
    let parts: Vec<&str> = sealed.split('.').collect();
    let bytes = URL_SAFE_NO_PAD.decode(parts[field]).expect("decode");
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = bytes.clone();
            bad[i] ^= bit;
            let mut fields = parts.clone();
            let enc = URL_SAFE_NO_PAD.encode(&bad);
            fields[field] = &enc;
            let tampered = fields.join(".");
            assert!(
                matches!(v.open(&tampered, &AAD), Err(VaultError::OpenFailed)),
                "field {field} byte {i} bit {bit:#x}"
            );
        }
    }
}

#[test]
fn tampering_any_byte_fails() {
    let v = test_vault();
    let sealed = v.seal(b"4111111111111111", &AAD).expect("seal");
    assert_every_byte_tamper_fails(&v, &sealed, 2);
    assert_every_byte_tamper_fails(&v, &sealed, 3);
}

#[test]
fn tampering_any_character_fails() {
    let v = test_vault();
    let sealed = v.seal(b"4111111111111111", &AAD).expect("seal");
    for (i, c) in sealed.char_indices() {
        for replacement in ['A', 'B', '-', '_', '0', 'f', '.', '='] {
            if replacement == c {
                continue;
            }
            let mut tampered = sealed.clone();
            tampered.replace_range(i..i + 1, &replacement.to_string());
            assert!(v.open(&tampered, &AAD).is_err(), "char {i} -> {replacement}");
        }
    }
    // Truncation and extension.
    assert!(v.open(&sealed[..sealed.len() - 1], &AAD).is_err());
    assert!(v.open(&format!("{sealed}A"), &AAD).is_err());
    assert!(v.open(&format!("{sealed}.x"), &AAD).is_err());
}

#[test]
fn swapped_wrapped_keys_fail() {
    let v = test_vault();
    let a = v.seal(b"first", &AAD).expect("seal");
    let b = v.seal(b"second", &AAD).expect("seal");
    let pa: Vec<&str> = a.split('.').collect();
    let pb: Vec<&str> = b.split('.').collect();
    let mixed = [pa[0], pa[1], pb[2], pa[3]].join(".");
    assert!(matches!(v.open(&mixed, &AAD), Err(VaultError::OpenFailed)));
}

#[test]
fn malformed_inputs() {
    let v = test_vault();
    let id = v.key_id();
    for bad in [
        String::new(),
        "v1".into(),
        format!("v1.{id}"),
        format!("v1.{id}.AAAA"),
        format!("v2.{id}.AAAA.AAAA"),
        format!("v1.{id}.AAAA.AAAA"),
        format!("v1.{id}.!!!.AAAA"),
        format!("v1.{}.AAAA.AAAA", id.to_uppercase()),
        "v1.short.AAAA.AAAA".into(),
    ] {
        assert!(matches!(v.open(&bad, &AAD), Err(VaultError::Malformed)), "{bad:?}");
    }
    // A well-formed wrapped key but a payload shorter than nonce + tag.
    let sealed = v.seal(b"x", &AAD).expect("seal");
    let parts: Vec<&str> = sealed.split('.').collect();
    let short = [parts[0], parts[1], parts[2], "AAAA"].join(".");
    assert!(matches!(v.open(&short, &AAD), Err(VaultError::Malformed)));
}

#[test]
fn rewrap_moves_to_new_key() {
    let old = test_vault();
    let new = Vault::generate();
    let sealed = old.seal(b"billing-key-xyz", &AAD).expect("seal");
    let rewrapped = old.rewrap(&sealed, &AAD, &new).expect("rewrap");

    assert_eq!(Vault::sealed_key_id(&sealed), Some(old.key_id()));
    assert_eq!(Vault::sealed_key_id(&rewrapped), Some(new.key_id()));
    // Ciphertext untouched, wrapped key changed.
    assert_eq!(sealed.rsplit('.').next(), rewrapped.rsplit('.').next());
    assert_ne!(sealed.split('.').nth(2), rewrapped.split('.').nth(2));

    assert_eq!(&new.open(&rewrapped, &AAD).expect("open")[..], b"billing-key-xyz");
    assert!(matches!(old.open(&rewrapped, &AAD), Err(VaultError::KeyMismatch)));
    // The rewrapped value is still bound to its Aad.
    let other = Aad { subject: "customer_2", ..AAD };
    assert!(matches!(new.open(&rewrapped, &other), Err(VaultError::OpenFailed)));
    // Rewrapping with the wrong vault is refused.
    assert!(matches!(new.rewrap(&sealed, &AAD, &old), Err(VaultError::KeyMismatch)));
}

#[test]
fn rewrap_refuses_tampered_payload() {
    let old = test_vault();
    let sealed = old.seal(b"data", &AAD).expect("seal");
    let mut parts: Vec<String> = sealed.split('.').map(String::from).collect();
    let mut payload = URL_SAFE_NO_PAD.decode(&parts[3]).expect("decode");
    payload[20] ^= 1;
    parts[3] = URL_SAFE_NO_PAD.encode(&payload);
    let tampered = parts.join(".");
    assert!(matches!(old.rewrap(&tampered, &AAD, &Vault::generate()), Err(VaultError::OpenFailed)));
}

#[test]
fn sealed_key_id_rejects_garbage() {
    assert_eq!(Vault::sealed_key_id(""), None);
    assert_eq!(Vault::sealed_key_id("plain text"), None);
    assert_eq!(Vault::sealed_key_id("v1.zz.a.b"), None);
    assert_eq!(Vault::sealed_key_id("v1.0123456789abcdef.a.b"), Some("0123456789abcdef"));
}

#[test]
fn key_id_is_sha256_prefix() {
    let key = [7u8; 32];
    let v = Vault::from_master_key(key);
    let digest = Sha256::digest(key);
    assert_eq!(v.key_id(), hex::encode(&digest[..8]));
    assert_eq!(v.key_id().len(), 16);
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn load_or_create_creates_then_reloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let first = Vault::load_or_create(&data_dir, None).expect("create");
    let path = data_dir.join("master.key");
    assert!(path.exists());
    #[cfg(unix)]
    assert_eq!(mode_of(&path), 0o600);

    let content = std::fs::read_to_string(&path).expect("read");
    assert_eq!(content.trim(), &*first.master_key_hex());
    assert_eq!(content.trim().len(), 64);

    let second = Vault::load_or_create(&data_dir, None).expect("load");
    assert_eq!(first.key_id(), second.key_id());
    let sealed = first.seal(b"x", &AAD).expect("seal");
    assert_eq!(&second.open(&sealed, &AAD).expect("open")[..], b"x");

    let from_file = Vault::from_key_file(&path).expect("from_key_file");
    assert_eq!(from_file.key_id(), first.key_id());
}

#[test]
fn load_or_create_prefers_env_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hex_key = "11".repeat(32);
    let v = Vault::load_or_create(dir.path(), Some(&hex_key)).expect("env");
    assert_eq!(v.key_id(), Vault::from_master_key([0x11; 32]).key_id());
    assert!(!dir.path().join("master.key").exists());
    assert!(matches!(
        Vault::load_or_create(dir.path(), Some("nope")),
        Err(VaultError::BadMasterKey(_))
    ));
}

#[test]
fn load_or_create_rejects_corrupt_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("master.key"), "not a key\n").expect("write");
    assert!(matches!(Vault::load_or_create(dir.path(), None), Err(VaultError::BadMasterKey(_))));
    // The bad file is left alone, never replaced.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("master.key")).expect("read"),
        "not a key\n"
    );
}

#[test]
fn from_key_file_does_not_create() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("master.key");
    assert!(matches!(Vault::from_key_file(&path), Err(VaultError::Io(_))));
    assert!(!path.exists());
}

#[test]
fn key_string_forms() {
    let key: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(0xfb));
    let expected = Vault::from_master_key(key).key_id().to_owned();
    let b64 = STANDARD.encode(key);
    let forms = [
        hex::encode(key),
        hex::encode_upper(key),
        format!("  {}\n", hex::encode(key)),
        b64.clone(),
        b64.trim_end_matches('=').to_owned(),
        URL_SAFE_NO_PAD.encode(key),
        base64::engine::general_purpose::URL_SAFE.encode(key),
    ];
    for form in &forms {
        let v = Vault::from_key_str(form).unwrap_or_else(|e| panic!("{form:?}: {e}"));
        assert_eq!(v.key_id(), expected, "{form:?}");
    }
    assert_eq!(&*Vault::from_master_key(key).master_key_hex(), &hex::encode(key));
}

#[test]
fn bad_key_strings() {
    let bad = [
        String::new(),
        "   ".into(),
        "zz".repeat(32),            // 64 chars, not hex
        "ab".repeat(31),            // 31 bytes of hex
        "ab".repeat(33),            // 33 bytes of hex
        STANDARD.encode([1u8; 31]), // base64 of 31 bytes
        STANDARD.encode([1u8; 33]), // base64 of 33 bytes
        format!("{}!", STANDARD.encode([1u8; 32]).trim_end_matches('=')),
        "short".into(),
    ];
    for s in &bad {
        match Vault::from_key_str(s) {
            Err(VaultError::BadMasterKey(msg)) => {
                assert!(s.trim().is_empty() || !msg.contains(s.trim()), "message echoes input");
            }
            other => panic!("{s:?}: {other:?}"),
        }
    }
}

#[test]
fn debug_shows_no_key_material() {
    let key = [0xabu8; 32];
    let v = Vault::from_master_key(key);
    let dbg = format!("{v:?}");
    assert!(dbg.contains(v.key_id()));
    assert!(!dbg.contains(&STANDARD.encode(key)[..8]));
    assert_eq!(dbg, format!("Vault {{ key_id: {:?}, .. }}", v.key_id()));
}

#[test]
fn vault_is_send_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Vault>();
    assert_send_sync::<VaultError>();
}

#[test]
fn concurrent_first_starts_agree_on_one_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| Vault::load_or_create(&data_dir, None).map(|v| v.key_id().to_owned()))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("join").expect("load_or_create")).collect()
    });
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    let on_disk = Vault::from_key_file(&data_dir.join("master.key")).expect("file");
    assert_eq!(on_disk.key_id(), ids[0]);
}

#[test]
fn key_wrap_itself_is_bound_to_aad() {
    // Checked on the wrap alone, since open() would also fail on the payload.
    let v = test_vault();
    let sealed = v.seal(b"x", &AAD).expect("seal");
    let wrapped = sealed.split('.').nth(2).expect("wrapped");
    let right = envelope::aad_bytes(&AAD);
    let wrong = envelope::aad_bytes(&Aad { merchant_id: "imp_other", ..AAD });
    assert!(envelope::unwrap_key(&v.master, wrapped, &right).is_ok());
    assert!(matches!(
        envelope::unwrap_key(&v.master, wrapped, &wrong),
        Err(VaultError::OpenFailed)
    ));
}

#[test]
fn first_key_file_leaves_no_temporary_file_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    Vault::load_or_create(dir.path(), None).expect("create");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["master.key".to_owned()]);
}

#[test]
fn rotation_key_files_are_private_and_keep_the_old_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = Vault::load_or_create(dir.path(), None).expect("create");
    let new = Vault::generate();
    let pending = dir.path().join("master.key.new");
    new.write_key_file(&pending).expect("write pending");
    #[cfg(unix)]
    assert_eq!(mode_of(&pending), 0o600);
    assert_eq!(Vault::from_key_file(&pending).expect("pending").key_id(), new.key_id());

    let kept = Vault::install_key_file(dir.path(), &pending, old.key_id()).expect("install");
    assert_eq!(kept, dir.path().join(format!("master.key.{}.old", old.key_id())));
    assert!(!pending.exists());
    let current = Vault::from_key_file(&dir.path().join("master.key")).expect("current");
    assert_eq!(current.key_id(), new.key_id());
    assert_eq!(Vault::from_key_file(&kept).expect("kept").key_id(), old.key_id());
    #[cfg(unix)]
    {
        assert_eq!(mode_of(&kept), 0o600);
        assert_eq!(mode_of(&dir.path().join("master.key")), 0o600);
    }
    let leftovers = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .filter(|e| e.as_ref().expect("entry").file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0, "no temporary file is left");
}
