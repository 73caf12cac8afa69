/* SPDX-License-Identifier: Apache-2.0 — libsodium (Debian's libsodium-dev): identities, key exchange, AEAD. */
#include <sodium.h>
