"""The CMS-side certificate authority (`cryptography`): OCPP security profiles 2/3.

One CA per installation: an ECDSA P-256 key and a self-signed certificate kept in
``OCPP_CA_DIR`` (``ca-key.pem`` readable by the owner only, ``ca.pem``), made on
first use. It signs

- charger certificates from the CSR a charger sends in SignCertificate (OCPP 1.6
  Security Whitepaper, use case A02/A03 "Update Charge Point certificate";
  OCPP 2.0.1 Part 2 A02/A03), which the charger then uses for security profile 3;
- the server certificate ``manage.py serve --tls`` presents when none is
  configured (a locally generated CA for ``TLS=1 make run``).

Certificate properties follow the whitepaper's section "Certificate Properties"
(2.0.1 Part 2 A00.FR.4xx): the subject's commonName of a Charge Point
certificate is the charger's identity, its organizationName the CPO; keys are
RSA >= 2048 bits or ECDSA on secp256r1 / secp384r1, signed with SHA-256 or more.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CA_NAME = "CMS charger CA"
CA_VALID_DAYS = 3650
_ACCEPTED_CURVES = (ec.SECP256R1, ec.SECP384R1)
_MIN_RSA_BITS = 2048


class CertificateRefused(ValueError):
    """A CSR or certificate the CA will not sign or accept, with the reason."""


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _create_ca(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(key_fd, "wb") as key_file:
        key_file.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def ca_load_or_create(directory: Path) -> CertificateAuthority:
    """The CA in ``directory``, made there first if absent (safe across processes)."""
    cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
    if not cert_path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        # One maker across processes (ASGI processes and workers start together).
        with (directory / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not cert_path.exists():
                _create_ca(cert_path, key_path)
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateRefused(f"{key_path} is not an ECDSA key")
    return CertificateAuthority(
        certificate=x509.load_pem_x509_certificate(cert_path.read_bytes()), key=key
    )


def common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def _check_public_key(key: object) -> None:
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _ACCEPTED_CURVES):
            raise CertificateRefused(f"curve {key.curve.name} is not accepted")
        return
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise CertificateRefused(f"RSA key of {key.key_size} bits is too short")
        return
    raise CertificateRefused("the key is neither RSA nor ECDSA")


def csr_load(csr_pem: str) -> x509.CertificateSigningRequest:
    """A charger's PEM CSR, its self-signature checked (CertificateRefused if bad)."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError as error:
        raise CertificateRefused(
            f"not a PEM certificate signing request: {error}"
        ) from error
    if not csr.is_signature_valid:
        raise CertificateRefused("the CSR's signature does not verify")
    _check_public_key(csr.public_key())
    return csr


def sign_client_csr(
    ca: CertificateAuthority,
    csr: x509.CertificateSigningRequest,
    *,
    identity: str,
    valid_days: int,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """Sign a charger's CSR for TLS client authentication.

    The subject's CN must be the charger's own identity (whitepaper,
    "Certificate Properties"; checked again at every profile-3 handshake),
    so a charger cannot obtain a certificate naming another one.
    """
    requested = common_name(csr.subject)
    if requested != identity:
        raise CertificateRefused(
            f"the CSR's commonName {requested!r} is not the charge point identity "
            f"{identity!r}"
        )
    now = now or _now()
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise CertificateRefused("the key is neither RSA nor ECDSA")
    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )


def issue_server_certificate(
    ca: CertificateAuthority, *, names: list[str], valid_days: int = 825
) -> tuple[bytes, bytes]:
    """A TLS server certificate and its key (PEM) for ``names`` (DNS names or IPs)."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "cms")]
            )
        )
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def certificate_problem(
    certificate: x509.Certificate,
    *,
    trusted: list[x509.Certificate],
    now: dt.datetime | None = None,
) -> str:
    """Why a client certificate is not acceptable ("" when it is).

    Issued directly by one of ``trusted`` (the CMS CA signs charger
    certificates itself), within its validity period, not a CA itself.
    """
    now = now or _now()
    if certificate.not_valid_after_utc < now:
        return f"certificate expired at {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if certificate.not_valid_before_utc > now:
        return "certificate not yet valid"
    for issuer in trusted:
        if certificate.issuer != issuer.subject:
            continue
        try:
            certificate.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError):
            continue
        return ""
    return "certificate not issued by a trusted CA"


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def serial_hex(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")


SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"
CLIENT_CAS_FILE = "client-cas.pem"


@dataclass(frozen=True)
class TlsServerFiles:
    """What a TLS server needs: its certificate and key, and the client CAs."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path


def tls_server_files(
    directory: Path,
    *,
    names: list[str],
    cert_file: str = "",
    key_file: str = "",
    extra_client_ca_file: str = "",
) -> TlsServerFiles:
    """Server certificate files for ``serve --tls`` and the TLS proxy.

    A configured certificate and key are used as they are; otherwise the CMS CA
    issues one for ``names`` into ``directory`` (again when it is missing,
    expires within 30 days or names other hosts). The client CA bundle is the
    CMS CA plus ``extra_client_ca_file``: charger certificates of either verify.
    """
    ca = ca_load_or_create(directory)
    if cert_file and key_file:
        server_cert, server_key = Path(cert_file), Path(key_file)
    else:
        server_cert = directory / SERVER_CERT_FILE
        server_key = directory / SERVER_KEY_FILE
        with (directory / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _server_cert_stale(server_cert, names):
                cert_pem, key_pem = issue_server_certificate(ca, names=names)
                key_fd = os.open(
                    server_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
                )
                with os.fdopen(key_fd, "wb") as out:
                    out.write(key_pem)
                server_cert.write_bytes(cert_pem)
    bundle = ca.certificate_pem
    if extra_client_ca_file:
        bundle += Path(extra_client_ca_file).read_text()
    client_cas = directory / CLIENT_CAS_FILE
    if not client_cas.exists() or client_cas.read_text() != bundle:
        client_cas.write_text(bundle)
    return TlsServerFiles(server_cert, server_key, client_cas)


def _server_cert_stale(path: Path, names: list[str]) -> bool:
    if not path.exists():
        return True
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    if certificate.not_valid_after_utc < _now() + dt.timedelta(days=30):
        return True
    try:
        alternatives = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        return True
    present = {str(value) for value in alternatives.get_values_for_type(x509.DNSName)}
    present |= {
        str(value) for value in alternatives.get_values_for_type(x509.IPAddress)
    }
    return present != set(names)
