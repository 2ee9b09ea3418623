package multicast

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "origin.key")
	key, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi.Mode(), err)
	}
	again, err := LoadOrCreateKey(path)
	if err != nil || !again.Equal(key) {
		t.Fatalf("reload: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("%d files left in the directory", len(entries))
	}

	pubPath := filepath.Join(dir, "origin.pub")
	if err := WritePublicKey(pubPath, key.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(pubPath)
	if err != nil || !pub.Equal(key.Public()) {
		t.Fatalf("public key: %v", err)
	}
	if fi, _ := os.Stat(pubPath); fi.Mode().Perm() != 0o644 {
		t.Fatalf("public key mode %v", fi.Mode())
	}
	// The key signs what receivers accept.
	p := newCodecPacketizer(t, PacketizerConfig{Key: key})
	info, _ := p.Sign(codecObject(1, 10))
	if !info.Verify(pub, p.SSRC()) {
		t.Fatal("signature does not verify with the loaded public key")
	}
}

func TestKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return path
	}
	good, err := LoadOrCreateKey(filepath.Join(dir, "good.key"))
	if err != nil {
		t.Fatal(err)
	}
	pemKey, _ := os.ReadFile(filepath.Join(dir, "good.key"))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)

	for _, c := range []struct {
		name, path, want string
	}{
		{"group readable", write("a.key", pemKey, 0o640), "mode 0640"},
		{"world readable", write("b.key", pemKey, 0o604), "mode 0604"},
		{"garbage", write("c.key", []byte("not a key\n"), 0o600), "not a PEM PRIVATE KEY"},
		{"empty", write("d.key", nil, 0o600), "not a PEM PRIVATE KEY"},
		{"public key", write("e.key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPubDER}), 0o600), "not a PEM PRIVATE KEY"},
		{"bad DER", write("f.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), 0o600), "f.key"},
		{"ECDSA", write("g.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), 0o600), "not an Ed25519 key"},
		{"huge", write("h.key", make([]byte, 100<<10), 0o600), "over"},
		{"directory", dir, "not a regular file"},
	} {
		_, err := LoadOrCreateKey(c.path)
		if !errors.Is(err, ErrKeyFile) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := LoadOrCreateKey(filepath.Join(dir, "missing", "x.key")); err == nil {
		t.Error("created a key in a missing directory")
	}

	for _, c := range []struct {
		name, path string
	}{
		{"garbage", write("a.pub", []byte("garbage"), 0o644)},
		{"private key", write("b.pub", pemKey, 0o644)},
		{"ECDSA", write("c.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPubDER}), 0o644)},
	} {
		if _, err := LoadPublicKey(c.path); !errors.Is(err, ErrKeyFile) {
			t.Errorf("LoadPublicKey %s: %v", c.name, err)
		}
	}
	if _, err := LoadPublicKey(filepath.Join(dir, "none.pub")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadPublicKey of a missing file: %v", err)
	}
	if err := WritePublicKey(filepath.Join(dir, "short.pub"), good.Public().(ed25519.PublicKey)[:5]); !errors.Is(err, ErrKeyFile) {
		t.Errorf("WritePublicKey of a short key: %v", err)
	}
}
