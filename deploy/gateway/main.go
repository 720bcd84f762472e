// saasmetrics-gateway serves the saasmetrics gRPC API as REST/JSON, translating with
// grpc-gateway v1 from the google.api.http annotations in proto/saasmetrics/v1.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	// Registers google.rpc.BadRequest so error details render as JSON.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	gw "saasmetrics/gen/saasmetrics/v1"
)

var (
	errInvalidUTF8    = errors.New("the request body is not valid UTF-8")
	errNotOneJSONText = errors.New("the request body is not one JSON value (nothing may follow it)")
)

// The client-streaming route, whose body is a sequence of JSON values.
const streamPath = "/v1/ingest:stream"

// The web dashboard (deploy/dashboard), bundled at build time and copied here by
// build.sh: served under / while the API stays under /v1/.
//
//go:embed dashboard
var dashboardFiles embed.FS

// dashboardHandler serves the bundle with headers that let the page load only its own
// files and talk only to this gateway.
func dashboardHandler() http.Handler {
	files, err := fs.Sub(dashboardFiles, "dashboard")
	if err != nil {
		log.Fatalf("dashboard: %v", err)
	}
	server := http.FileServer(http.FS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
			"img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-cache")
		server.ServeHTTP(w, r)
	})
}

// checkBody refuses a unary route's body that the JSON decoder would only half read: it
// decodes the first JSON value and ignores what follows, invalid UTF-8 included (found
// by FuzzRequestBody: "{}\xde" was accepted).
func checkBody(body []byte) error {
	if !utf8.Valid(body) {
		return errInvalidUTF8
	}
	if len(bytes.TrimSpace(body)) > 0 && !json.Valid(body) {
		return errNotOneJSONText
	}
	return nil
}

// utf8Body fails a read as soon as the body stops being valid UTF-8 (encoding/json would
// otherwise store U+FFFD in place of the bad bytes), holding back a rune split across reads.
type utf8Body struct {
	r       io.ReadCloser
	pending []byte
}

func (u *utf8Body) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	data := append(append([]byte(nil), u.pending...), p[:n]...)
	cut := len(data)
	for i := 1; i <= utf8.UTFMax && i <= len(data); i++ {
		if utf8.RuneStart(data[len(data)-i]) {
			if !utf8.FullRune(data[len(data)-i:]) {
				cut = len(data) - i
			}
			break
		}
	}
	if !utf8.Valid(data[:cut]) || (err == io.EOF && cut < len(data)) {
		return 0, errInvalidUTF8
	}
	u.pending = data[cut:]
	return n, err
}

func (u *utf8Body) Close() error { return u.r.Close() }

// Errors that are not the server's (a body that does not decode, is too large or is not
// UTF-8) are the caller's: 400, not 500.
func callerErrors(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler,
	w http.ResponseWriter, r *http.Request, err error) {
	if _, ok := status.FromError(err); !ok {
		err = status.Error(codes.InvalidArgument, err.Error())
	}
	runtime.DefaultHTTPError(ctx, mux, m, w, r, err)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP listen address HOST:PORT")
	backend := flag.String("backend", "127.0.0.1:50051", "saasmetrics gRPC address HOST:PORT")
	portFile := flag.String("port_file", "", "if set, write the bound HTTP port here")
	backendCA := flag.String("backend_tls_ca_file", "", "PEM CA of the server's certificate: speak TLS to the backend")
	backendCert := flag.String("backend_tls_cert_file", "", "PEM client certificate for the backend (mTLS)")
	backendKey := flag.String("backend_tls_key_file", "", "PEM client key for the backend (mTLS)")
	backendName := flag.String("backend_tls_server_name", "", "name to verify in the backend's certificate, when it differs from --backend's host (a sidecar dialling 127.0.0.1)")
	maxBody := flag.Int64("max_body_bytes", 16<<20, "largest request body; larger is 413 (match the server's --max_batch_bytes)")
	dashboard := flag.Bool("dashboard", true, "serve the web dashboard under / (the API stays under /v1/)")
	flag.Parse()
	log.SetPrefix("saasmetrics-gateway: ")
	log.SetFlags(0)

	runtime.HTTPError = callerErrors
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard,
		&runtime.JSONPb{OrigName: true, EmitDefaults: true}))
	opts := []grpc.DialOption{grpc.WithInsecure()}
	if *backendCA != "" {
		pem, err := os.ReadFile(*backendCA)
		if err != nil {
			log.Fatalf("--backend_tls_ca_file=%s: %v", *backendCA, err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			log.Fatalf("--backend_tls_ca_file=%s: no PEM certificate in it", *backendCA)
		}
		config := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, ServerName: *backendName}
		if *backendCert != "" {
			pair, err := tls.LoadX509KeyPair(*backendCert, *backendKey)
			if err != nil {
				log.Fatalf("--backend_tls_cert_file/--backend_tls_key_file: %v", err)
			}
			config.Certificates = []tls.Certificate{pair}
		}
		opts = []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(config))}
	}
	for _, register := range []func(context.Context, *runtime.ServeMux, string, []grpc.DialOption) error{
		gw.RegisterAdminServiceHandlerFromEndpoint,
		gw.RegisterIngestServiceHandlerFromEndpoint,
		gw.RegisterMetricsServiceHandlerFromEndpoint,
	} {
		if err := register(ctx, mux, *backend, opts); err != nil {
			log.Fatalf("--backend=%s: %v", *backend, err)
		}
	}
	root := http.NewServeMux()
	var web http.Handler
	if *dashboard {
		web = dashboardHandler()
		for _, path := range []string{"/index.html", "/app.js", "/app.css", "/app.js.LEGAL.txt"} {
			root.Handle(path, web)
		}
	}
	// Bodies are bounded: the server refuses larger messages anyway, and reading one whole
	// first costs the gateway its size in memory.
	root.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if web != nil && r.URL.Path == "/" {
			web.ServeHTTP(w, r)
			return
		}
		tooLarge := func() {
			http.Error(w, `{"code":8,"message":"request body larger than --max_body_bytes"}`,
				http.StatusRequestEntityTooLarge)
		}
		if r.ContentLength > *maxBody {
			tooLarge()
			return
		}
		limited := http.MaxBytesReader(w, r.Body, *maxBody)
		if r.URL.Path == streamPath {
			// A sequence of JSON values, decoded one by one to the end: checked as it is read.
			r.Body = &utf8Body{r: limited}
			mux.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(limited)
		if err != nil {
			tooLarge()
			return
		}
		if err := checkBody(body); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			msg, _ := json.Marshal(err.Error())
			fmt.Fprintf(w, `{"code":3,"message":%s}`, msg)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		mux.ServeHTTP(w, r)
	}))
	root.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("--listen=%s: %v", *listen, err)
	}
	port := lis.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := os.WriteFile(*portFile, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
			log.Fatalf("--port_file=%s: %v", *portFile, err)
		}
	}
	log.Printf("listening http_port=%d backend=%s", port, *backend)
	srv := &http.Server{Handler: root, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		shutdown, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(lis); err != nil && err != http.ErrServerClosed {
		log.Fatalf("serve: %v", err)
	}
}
