"""The sealed-secrets value format, as the controller decrypts it (sealed-secrets' ``HybridEncrypt``).

A value is sealed as: 2-byte big-endian length of the RSA part || RSA-OAEP(SHA-256) of a fresh 32-byte
session key || AES-256-GCM of the value under that key with an all-zero nonce (safe: each key seals exactly
one value).
The OAEP label binds the value to where it may be unsealed: ``namespace/name`` (strict), ``namespace``
(namespace-wide) or nothing (cluster-wide).
"""

from __future__ import annotations

import os
import struct
from enum import Enum

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SESSION_KEY_BYTES = 32
GCM_NONCE = bytes(12)


class Scope(Enum):
    STRICT = "strict"
    NAMESPACE_WIDE = "namespace-wide"
    CLUSTER_WIDE = "cluster-wide"


class SealingError(Exception):
    """A value or key that cannot be sealed or unsealed; the message never contains a secret."""


def label(scope: Scope, namespace: str, name: str) -> bytes:
    if scope is Scope.STRICT:
        return f"{namespace}/{name}".encode()
    if scope is Scope.NAMESPACE_WIDE:
        return namespace.encode()
    return b""


def _oaep(oaep_label: bytes) -> padding.OAEP:
    return padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=oaep_label or None
    )


def seal(public_key: rsa.RSAPublicKey, plaintext: bytes, oaep_label: bytes) -> bytes:
    session_key = os.urandom(SESSION_KEY_BYTES)
    wrapped = public_key.encrypt(session_key, _oaep(oaep_label))
    return struct.pack(">H", len(wrapped)) + wrapped + AESGCM(session_key).encrypt(GCM_NONCE, plaintext, None)


def unseal(private_key: rsa.RSAPrivateKey, ciphertext: bytes, oaep_label: bytes) -> bytes:
    """What the controller does; used to verify sealing. Fails unless ``oaep_label`` is the sealing label."""
    if len(ciphertext) < 2:
        raise SealingError("ciphertext too short")
    (wrapped_length,) = struct.unpack(">H", ciphertext[:2])
    wrapped, sealed = ciphertext[2 : 2 + wrapped_length], ciphertext[2 + wrapped_length :]
    try:
        session_key = private_key.decrypt(wrapped, _oaep(oaep_label))
        return AESGCM(session_key).decrypt(GCM_NONCE, sealed, None)
    except Exception as error:  # cryptography raises ValueError or InvalidTag; neither names the secret
        raise SealingError(f"cannot unseal: {type(error).__name__}") from None


def public_key_from_pem(pem: bytes) -> rsa.RSAPublicKey:
    """The RSA key of a controller certificate (``kubeseal --fetch-cert``) or of a bare public key PEM."""
    try:
        key = (
            x509.load_pem_x509_certificate(pem).public_key()
            if b"CERTIFICATE" in pem
            else serialization.load_pem_public_key(pem)
        )
    except ValueError as error:
        raise SealingError(f"not a PEM certificate or public key ({error})") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SealingError("the certificate's key is not RSA")
    return key
