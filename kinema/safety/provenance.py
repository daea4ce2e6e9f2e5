"""C2PA provenance with c2pa-python: sign every MP4 Kinema writes, and verify files.

The manifest holds one `c2pa.created` action with digitalSourceType trainedAlgorithmicMedia, the software agent
(kinema + version) and the model id; the prompt only when the operator enables it. Signing is offline (no
timestamp authority). The certificate chain (leaf first, PEM) and its private key come from the configuration;
without them, a development CA and a leaf signed by it (EKU emailProtection: c2pa rejects self-signed leaves) are
created once in the user's config directory ($KINEMA_CONFIG_DIR, else $XDG_CONFIG_HOME/kinema, else
~/.config/kinema), with a warning that files signed with it verify as Valid but never as Trusted elsewhere.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path

import c2pa

import kinema

SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
MIME = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


def config_dir() -> Path:
    if os.environ.get("KINEMA_CONFIG_DIR"):
        return Path(os.environ["KINEMA_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "kinema"


def dev_credentials(folder: Path | None = None, warn: bool = True) -> tuple[Path, Path, Path]:
    """(chain.pem, key.pem, ca.pem) of the local development CA, created on first use."""
    folder = (folder or config_dir()) / "c2pa-dev"
    chain, key, ca = folder / "chain.pem", folder / "signer.key", folder / "ca.pem"
    if not (chain.is_file() and key.is_file() and ca.is_file()):
        _make_dev_ca(folder, chain, key, ca)
        if warn:
            print(
                f"warning: created a development C2PA certificate in {folder}; videos signed with it are signed but "
                "untrusted (set a real certificate chain and key in the safety configuration)",
                file=sys.stderr,
            )
    return chain, key, ca


def _make_dev_ca(folder: Path, chain: Path, key: Path, ca: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from kinema.io import atomic_path

    def name(cn: str) -> x509.Name:
        org = x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kinema development")
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), org])

    now = datetime.datetime.now(datetime.timezone.utc)
    valid = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650))

    def usage(signing: bool) -> x509.KeyUsage:
        return x509.KeyUsage(signing, False, False, False, False, not signing, not signing, False, False)

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder().subject_name(name("Kinema development CA")).issuer_name(name("Kinema development CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(name("Kinema development signer")).issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    folder.mkdir(parents=True, exist_ok=True)
    key_bytes = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    ca_pem = ca_cert.public_bytes(pem)
    for path, data in ((key, key_bytes), (chain, leaf.public_bytes(pem) + ca_pem), (ca, ca_pem)):
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
            tmp.chmod(0o600)


def manifest(model_id: str, title: str, prompt: str | None = None, extra: dict | None = None) -> dict:
    """The manifest definition: one c2pa.created action by kinema for `model_id`; the prompt only if given."""
    parameters = {"model": model_id, **({"prompt": prompt} if prompt is not None else {}), **(extra or {})}
    agent = {"name": "kinema", "version": kinema.__version__}
    return {
        "claim_generator_info": [agent],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": SOURCE_TYPE,
                            "softwareAgent": agent,
                            "parameters": parameters,
                        }
                    ]
                },
            }
        ],
    }


def sign_file(path: str | Path, info: dict, chain: Path, key: Path) -> None:
    """Sign `path` in place (atomically) with the manifest `info` (from `manifest()`)."""
    from kinema.io import atomic_path

    path = Path(path)
    mime = MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"cannot sign '{path}': C2PA signing here supports {', '.join(MIME)}")
    for what, p in (("certificate chain", chain), ("private key", key)):
        if not Path(p).is_file():
            raise ValueError(f"C2PA {what} '{p}': no such file")
    signer_info = c2pa.C2paSignerInfo(
        alg=b"es256", sign_cert=Path(chain).read_bytes(), private_key=Path(key).read_bytes(), ta_url=None
    )
    try:
        with c2pa.Signer.from_info(signer_info) as signer, c2pa.Builder(info) as builder, atomic_path(path) as tmp:
            with open(path, "rb") as src, open(tmp, "w+b") as dst:
                builder.sign(signer, mime, src, dst)
    except c2pa.C2paError as e:
        raise ValueError(f"cannot sign '{path}' with C2PA: {e}") from e


def read(path: str | Path, trust: Path | None = None) -> dict:
    """{"present", "state" (Trusted | Valid | Invalid | None), "generator", "actions"} for a file."""
    path = Path(path)
    mime = MIME.get(path.suffix.lower())
    empty = {"present": False, "state": None, "generator": None, "actions": []}
    if mime is None:
        return empty
    settings = {"verify": {"verify_trust": trust is not None}}
    if trust is not None:
        if not Path(trust).is_file():
            raise ValueError(f"--trust '{trust}': no such file (a PEM file of trusted CA certificates)")
        settings["trust"] = {"trust_anchors": Path(trust).read_text(encoding="utf-8")}
    try:
        with c2pa.Context(settings=c2pa.Settings.from_dict(settings)) as ctx, open(path, "rb") as f:
            with c2pa.Reader(mime, f, context=ctx) as reader:
                state = reader.get_validation_state()
                store = json.loads(reader.json())
    except c2pa.C2paError as e:
        if "ManifestNotFound" in type(e).__name__ or "no JUMBF" in str(e) or "not found" in str(e).lower():
            return empty
        return {**empty, "present": True, "state": "Invalid"}
    active = store.get("manifests", {}).get(store.get("active_manifest"), {})
    generator = ", ".join(
        f"{g.get('name')} {g.get('version', '')}".strip() for g in active.get("claim_generator_info", [])
    )
    actions = []
    for assertion in active.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            actions += assertion.get("data", {}).get("actions", [])
    return {"present": True, "state": state, "generator": generator or None, "actions": actions}
