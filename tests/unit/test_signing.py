"""Instance keys: development keys made once, even by copies starting together."""

import multiprocessing

from shared.signing import TrustedKeys, load_signer


def _public_key_of(args):
    instance, folder = args
    return load_signer(instance, keys_dir=folder).public_pem()


def test_copies_starting_together_share_one_whole_key(tmp_path):
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        keys = pool.map(_public_key_of, [("nominations-a", str(tmp_path))] * 12)
    assert len(set(keys)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nominations-a.key", "nominations-a.pub"]
    assert (tmp_path / "nominations-a.key").stat().st_mode & 0o777 == 0o600


def test_a_signature_holds_only_for_its_instance_and_message(tmp_path):
    signer = load_signer("awards_huyen_yen_the", keys_dir=tmp_path)
    other = load_signer("awards_tinh_bac_giang", keys_dir=tmp_path / "elsewhere")
    trusted = TrustedKeys(tmp_path)
    signature = signer.sign(b"quyet dinh 123")
    assert trusted.verify("awards_huyen_yen_the", b"quyet dinh 123", signature)
    assert not trusted.verify("awards_huyen_yen_the", b"quyet dinh 124", signature)
    assert not trusted.verify("awards_tinh_bac_giang", b"quyet dinh 123", other.sign(b"quyet dinh 123"))
    assert not trusted.verify("../etc/passwd", b"x", signature) and not trusted.verify("x", b"x", "not base64!")
