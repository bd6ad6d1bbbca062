"""Charger certificates for tests, made with the product's CA (cms/pki.py)."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cms.pki import ca_load_or_create, sign_client_csr


def charger_key_and_csr(
    common_name: str,
) -> tuple[ec.EllipticCurvePrivateKey, x509.CertificateSigningRequest]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test CPO"),
                ]
            )
        )
        .sign(key, hashes.SHA256())
    )
    return key, csr


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def write_client_files(
    directory: Path,
    name: str,
    key: ec.EllipticCurvePrivateKey,
    certificate_pem: str,
) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
    cert_path.write_text(certificate_pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def charger_certificate(
    ca_dir: Path,
    out_dir: Path,
    common_name: str,
    *,
    issued_days_ago: int = 0,
    valid_days: int = 30,
) -> tuple[Path, Path]:
    """A certificate (and key) the CA in ``ca_dir`` issued to ``common_name``."""
    ca = ca_load_or_create(ca_dir)
    key, csr = charger_key_and_csr(common_name)
    certificate = sign_client_csr(
        ca,
        csr,
        identity=common_name,
        valid_days=valid_days,
        now=dt.datetime.now(dt.UTC) - dt.timedelta(days=issued_days_ago),
    )
    name = f"{common_name}-{certificate.serial_number:x}"
    return write_client_files(
        out_dir,
        name,
        key,
        certificate.public_bytes(serialization.Encoding.PEM).decode(),
    )


def client_context(
    server_ca_file: Path, cert_and_key: tuple[Path, Path] | None
) -> ssl.SSLContext:
    """A charger's TLS context: trusts the server's CA, presents its certificate."""
    context = ssl.create_default_context(cafile=str(server_ca_file))
    if cert_and_key is not None:
        context.load_cert_chain(str(cert_and_key[0]), str(cert_and_key[1]))
    return context
