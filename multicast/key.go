package multicast

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Key files (docs/multicast.md, "Keys"): the origin's private key is a PEM
// "PRIVATE KEY" (PKCS #8) file of mode 0600; receivers get the public key
// as a PEM "PUBLIC KEY" (PKIX) file, the same form openssl writes
// (openssl pkey -in origin.key -pubout).

// LoadOrCreateKey reads the Ed25519 private key at path, or makes one and
// writes it there with mode 0600 if there is no file. It refuses a file
// that group or others may read or write: a leaked key lets anyone sign
// objects that every receiver accepts.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	key, err := loadPrivateKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	// Write a temporary file and link it into place: the key appears
	// whole or not at all, and if another process made one meanwhile,
	// the link fails and that key is used.
	if err := writeFileExclusive(path, data, 0o600); errors.Is(err, fs.ErrExist) {
		return loadPrivateKey(path)
	} else if err != nil {
		return nil, err
	}
	return key, nil
}

func loadPrivateKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrKeyFile, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o: group and others must have no access to a private key (chmod 600 %s)",
			ErrKeyFile, path, perm, path)
	}
	data, err := readAll(f, 64<<10)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s is not a PEM PRIVATE KEY (PKCS #8) file", ErrKeyFile, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s holds a %T, not an Ed25519 key", ErrKeyFile, path, k)
	}
	return key, nil
}

// LoadPublicKey reads an Ed25519 public key from a PEM "PUBLIC KEY"
// (PKIX) file.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := readAll(f, 64<<10)
	if err != nil {
		return nil, err
	}
	pub, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return pub, nil
}

// ParsePublicKey reads an Ed25519 public key in PEM "PUBLIC KEY" (PKIX)
// form, as [LoadPublicKey] reads it from a file.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%w: not a PEM PUBLIC KEY", ErrKeyFile)
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T, not an Ed25519 key", ErrKeyFile, k)
	}
	return pub, nil
}

// MarshalPublicKey returns pub in PEM "PUBLIC KEY" (PKIX) form.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key of %d bytes", ErrKeyFile, len(pub))
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// WritePublicKey writes pub to path as [MarshalPublicKey] does, with mode
// 0644, replacing the file atomically.
func WritePublicKey(path string, pub ed25519.PublicKey) error {
	data, err := MarshalPublicKey(pub)
	if err != nil {
		return err
	}
	tmp, err := writeTemp(path, data, 0o644)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeFileExclusive writes data to path unless path exists (then the
// error wraps fs.ErrExist), never leaving a partial file at path.
func writeFileExclusive(path string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	return os.Link(tmp, path)
}

// writeTemp writes data with mode perm to a new file beside path, synced,
// and returns its name.
func writeTemp(path string, data []byte, perm fs.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	err = f.Chmod(perm) // CreateTemp makes 0600; the public key wants 0644
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// readAll reads f, refusing more than limit bytes (a key file is a few
// hundred).
func readAll(f *os.File, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrKeyFile, f.Name(), limit)
	}
	return data, nil
}
