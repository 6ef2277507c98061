"""SMTP over STARTTLS, with the relay's certificate from a private CA file."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from smtp_sink import Sink, free_port

from napflow.notifications.compose import build_message
from napflow.notifications.mailer import Outgoing, Rendered, TemporaryFailure
from napflow.notifications.smtp import SmtpTransport


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "napflow test relay")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "relay.pem", directory / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls_relay(tmp_path: Path):  # type: ignore[no-untyped-def]
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    sink = Sink()
    controller = Controller(
        sink, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True
    )
    controller.start()
    yield controller, sink, cert_file
    controller.stop()


def outgoing() -> Outgoing:
    message = build_message(
        Rendered("[TJK-2015] Ministerial approval, tomorrow", "Text", "<p>HTML</p>"),
        sender=("napflow", "napflow@napflow.example"),
        recipient=("Minister", "minister@mfa.tj.example"),
        message_id="<tls@napflow.example>",
        date=datetime(2015, 12, 30, 4, tzinfo=UTC),
    )
    return Outgoing.from_message(
        message,
        "napflow@napflow.example",
        "minister@mfa.tj.example",
        datetime(2015, 12, 30, 4, tzinfo=UTC),
    )


def test_starttls_with_the_relays_ca_delivers(tls_relay) -> None:  # type: ignore[no-untyped-def]
    controller, sink, cert_file = tls_relay
    transport = SmtpTransport("127.0.0.1", controller.port, "starttls", ca_file=str(cert_file))
    transport.send(outgoing())
    transport.close()
    [message] = sink.messages
    assert str(message["Subject"]) == "[TJK-2015] Ministerial approval, tomorrow"


def test_an_untrusted_certificate_is_a_temporary_failure(tls_relay) -> None:  # type: ignore[no-untyped-def]
    """Nothing goes out over a connection napflow cannot trust; it will try again."""
    controller, sink, _cert = tls_relay
    transport = SmtpTransport("127.0.0.1", controller.port, "starttls")
    with pytest.raises(TemporaryFailure, match="CERTIFICATE_VERIFY_FAILED"):
        transport.send(outgoing())
    assert sink.messages == []


def test_a_relay_that_requires_tls_is_a_setup_problem_retried_later(tls_relay) -> None:  # type: ignore[no-untyped-def]
    """530 is about napflow's settings, not the message: temporary, so nothing is lost."""
    controller, sink, _cert = tls_relay
    transport = SmtpTransport("127.0.0.1", controller.port, "none")
    with pytest.raises(TemporaryFailure, match=r"^530 "):
        transport.send(outgoing())
    assert sink.messages == []
