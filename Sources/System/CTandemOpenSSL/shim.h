// The system OpenSSL (Debian libssl-dev): the HTTPS health check's client handshake (libssl) and the
// Cryptography module's SHA-256, HMAC-SHA256 and constant-time compare (libcrypto).
// Only functions are used from Swift; the macros OpenSSL defines are wrapped here.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>

/// SSL_get_error's "wants more input" / "wants to write" answers as plain ints for Swift.
static inline int tandem_ssl_error_want_read(void) { return SSL_ERROR_WANT_READ; }
static inline int tandem_ssl_error_want_write(void) { return SSL_ERROR_WANT_WRITE; }
static inline int tandem_ssl_error_zero_return(void) { return SSL_ERROR_ZERO_RETURN; }
/// BIO_pending is a macro.
static inline long tandem_bio_pending(BIO *b) { return (long)BIO_pending(b); }
