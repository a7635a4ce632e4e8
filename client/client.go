// Package client is the Go client of plinth's HTTP API. The CLI and the demo
// use it, against a remote server or, through Local, against a data
// directory in the same process: one code path either way.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/deploy"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/monitor"
	"github.com/plinthml/plinth/pipeline"
	"github.com/plinthml/plinth/project"
	"github.com/plinthml/plinth/registry"
	"github.com/plinthml/plinth/serve"
	"github.com/plinthml/plinth/track"
)

// Client talks to a plinth server.
type Client struct {
	base  string
	hc    *http.Client
	token string
}

// WithToken returns a copy of the client that authenticates with an API
// token (auth): a server started with access control refuses requests
// without one.
func (c *Client) WithToken(secret string) *Client {
	cp := *c
	cp.token = secret
	return &cp
}

// New returns a client for the server at baseURL, e.g. http://127.0.0.1:7070.
func New(baseURL string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, plinth.Invalid("url", "%q is not an http(s) URL such as http://127.0.0.1:7070", baseURL)
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: &http.Client{Timeout: 5 * time.Minute}}, nil
}

// Local returns a client that calls h directly, without a network.
func Local(h http.Handler) *Client {
	return &Client{base: "http://local", hc: &http.Client{Transport: handlerTransport{h}}}
}

type handlerTransport struct{ h http.Handler }

// RoundTrip serves the request in-process. The handler writes into a pipe
// so large downloads stream instead of piling up in memory.
func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The handler gets its own copy shaped like a server-side request.
	req = req.Clone(req.Context())
	if req.Body == nil {
		req.Body = http.NoBody
	}
	req.RequestURI = req.URL.RequestURI()
	req.RemoteAddr = "local"
	pr, pw := io.Pipe()
	rw := &pipeResponse{header: http.Header{}, body: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				pw.CloseWithError(fmt.Errorf("handler aborted: %v", p))
				rw.start(http.StatusInternalServerError)
				return
			}
			rw.start(http.StatusOK)
			pw.Close()
		}()
		t.h.ServeHTTP(rw, req)
	}()
	<-rw.ready
	return &http.Response{StatusCode: rw.status, Header: rw.header, Body: pr, Request: req,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, ContentLength: -1}, nil
}

type pipeResponse struct {
	header http.Header
	body   *io.PipeWriter
	status int
	ready  chan struct{}
}

func (p *pipeResponse) Header() http.Header { return p.header }

func (p *pipeResponse) start(status int) {
	if p.status == 0 {
		p.status = status
		close(p.ready)
	}
}

func (p *pipeResponse) WriteHeader(status int) { p.start(status) }

func (p *pipeResponse) Write(b []byte) (int, error) {
	p.start(http.StatusOK)
	return p.body.Write(b)
}

// do sends a JSON request and decodes a JSON response into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// send performs a request and turns an error response into *plinth.Error.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	return c.sendWith(ctx, method, path, body, contentType, nil)
}

// sendWith is send with extra request headers.
func (c *Client) sendWith(ctx context.Context, method, path string, body io.Reader, contentType string, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode < 400 {
		return resp, nil
	}
	defer resp.Body.Close()
	var eb struct {
		Error plinth.Error `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(raw, &eb) != nil || eb.Error.Code == "" {
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	return nil, &eb.Error
}

func esc(s string) string { return url.PathEscape(s) }

// Ready reports whether the server answers /readyz.
func (c *Client) Ready(ctx context.Context) error { return c.do(ctx, "GET", "/readyz", nil, nil) }

// --- experiments and runs ---

// CreateExperiment creates an experiment.
func (c *Client) CreateExperiment(ctx context.Context, name, description string) (*track.Experiment, error) {
	var e track.Experiment
	err := c.do(ctx, "POST", "/api/v1/experiments", map[string]any{"name": name, "description": description}, &e)
	return &e, err
}

// Experiment returns an experiment by ID or name.
func (c *Client) Experiment(ctx context.Context, idOrName string) (*track.Experiment, error) {
	var e track.Experiment
	err := c.do(ctx, "GET", "/api/v1/experiments/"+esc(idOrName), nil, &e)
	return &e, err
}

// Experiments lists experiments.
func (c *Client) Experiments(ctx context.Context) ([]track.Experiment, error) {
	var out struct {
		Experiments []track.Experiment `json:"experiments"`
	}
	err := c.do(ctx, "GET", "/api/v1/experiments", nil, &out)
	return out.Experiments, err
}

// NewRun describes a run to start. Code and Env are detected from the
// calling process when left empty.
type NewRun struct {
	Experiment string               `json:"experiment"`
	Name       string               `json:"name,omitempty"`
	ParentID   string               `json:"parent_id,omitempty"`
	Note       string               `json:"note,omitempty"`
	Params     map[string]string    `json:"params,omitempty"`
	Tags       map[string]string    `json:"tags,omitempty"`
	Code       track.Code           `json:"code,omitempty"`
	Env        map[string]string    `json:"env,omitempty"`
	Inputs     []track.DatasetInput `json:"inputs,omitempty"`
}

// CreateRun starts a run, recording the caller's code version and
// environment.
func (c *Client) CreateRun(ctx context.Context, r NewRun) (*track.Run, error) {
	if r.Code == (track.Code{}) {
		r.Code = track.DetectCode(".")
	}
	if r.Env == nil {
		r.Env = track.DetectEnv()
	}
	var run track.Run
	err := c.do(ctx, "POST", "/api/v1/runs", r, &run)
	return &run, err
}

// Run returns a run.
func (c *Client) Run(ctx context.Context, id string) (*track.Run, error) {
	var run track.Run
	err := c.do(ctx, "GET", "/api/v1/runs/"+esc(id), nil, &run)
	return &run, err
}

// UpdateRun changes a run's name, status or note.
func (c *Client) UpdateRun(ctx context.Context, id string, u track.RunUpdate) (*track.Run, error) {
	var run track.Run
	err := c.do(ctx, "PATCH", "/api/v1/runs/"+esc(id), u, &run)
	return &run, err
}

// EndRun marks a run finished, failed or killed.
func (c *Client) EndRun(ctx context.Context, id string, status track.Status) (*track.Run, error) {
	return c.UpdateRun(ctx, id, track.RunUpdate{Status: &status})
}

// LogBatch logs metrics, params, tags and inputs in one atomic request.
func (c *Client) LogBatch(ctx context.Context, runID string, b track.Batch) error {
	return c.do(ctx, "POST", "/api/v1/runs/"+esc(runID)+"/batch", b, nil)
}

// MetricHistory returns a metric's full series.
func (c *Client) MetricHistory(ctx context.Context, runID, key string) ([]track.Metric, error) {
	var out struct {
		Metrics []track.Metric `json:"metrics"`
	}
	err := c.do(ctx, "GET", "/api/v1/runs/"+esc(runID)+"/metrics/"+esc(key), nil, &out)
	return out.Metrics, err
}

// SearchRuns returns one page of runs.
func (c *Client) SearchRuns(ctx context.Context, req track.SearchRequest) (*track.Page, error) {
	var page track.Page
	err := c.do(ctx, "POST", "/api/v1/runs/search", req, &page)
	return &page, err
}

// CompareRuns sets runs side by side.
func (c *Client) CompareRuns(ctx context.Context, ids ...string) (*track.Comparison, error) {
	var cmp track.Comparison
	err := c.do(ctx, "POST", "/api/v1/runs/compare", map[string]any{"run_ids": ids}, &cmp)
	return &cmp, err
}

// PutArtifact streams r to the server as the run's file at path.
func (c *Client) PutArtifact(ctx context.Context, runID, path string, r io.Reader) (*track.Artifact, error) {
	resp, err := c.send(ctx, "PUT", "/api/v1/runs/"+esc(runID)+"/artifacts/"+escPath(path), r, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var a track.Artifact
	return &a, json.NewDecoder(resp.Body).Decode(&a)
}

// OpenArtifact streams a run artifact; the caller closes the reader.
func (c *Client) OpenArtifact(ctx context.Context, runID, path string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, "GET", "/api/v1/runs/"+esc(runID)+"/artifacts/"+escPath(path), nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func escPath(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		parts[i] = url.PathEscape(part)
	}
	return strings.Join(parts, "/")
}

// PutBlob streams r into the server's blob store.
func (c *Client) PutBlob(ctx context.Context, r io.Reader) (*blob.Info, error) {
	resp, err := c.send(ctx, "PUT", "/api/v1/blobs", r, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var info blob.Info
	return &info, json.NewDecoder(resp.Body).Decode(&info)
}

// OpenBlob streams a blob; the caller closes the reader.
func (c *Client) OpenBlob(ctx context.Context, d string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, "GET", "/api/v1/blobs/"+esc(d), nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// --- registry ---

// Models lists registered models.
func (c *Client) Models(ctx context.Context) ([]registry.Model, error) {
	var out struct {
		Models []registry.Model `json:"models"`
	}
	err := c.do(ctx, "GET", "/api/v1/models", nil, &out)
	return out.Models, err
}

// CreateModel registers an empty model with a card.
func (c *Client) CreateModel(ctx context.Context, name string, card registry.Card) (*registry.Model, error) {
	var m registry.Model
	err := c.do(ctx, "POST", "/api/v1/models", map[string]any{"name": name, "card": card}, &m)
	return &m, err
}

// Model returns a model with its aliases and card.
func (c *Client) Model(ctx context.Context, name string) (*registry.Model, error) {
	var m registry.Model
	err := c.do(ctx, "GET", "/api/v1/models/"+esc(name), nil, &m)
	return &m, err
}

// UpdateCard replaces a model card.
func (c *Client) UpdateCard(ctx context.Context, name string, card registry.Card, reason string) (*registry.Model, error) {
	var m registry.Model
	err := c.do(ctx, "PUT", "/api/v1/models/"+esc(name)+"/card", map[string]any{"card": card, "reason": reason}, &m)
	return &m, err
}

// CreateVersion registers a model version.
func (c *Client) CreateVersion(ctx context.Context, model string, v registry.NewVersion) (*registry.Version, error) {
	var out registry.Version
	err := c.do(ctx, "POST", "/api/v1/models/"+esc(model)+"/versions", v, &out)
	return &out, err
}

// Versions lists a model's versions, newest first.
func (c *Client) Versions(ctx context.Context, model string) ([]registry.Version, error) {
	var out struct {
		Versions []registry.Version `json:"versions"`
	}
	err := c.do(ctx, "GET", "/api/v1/models/"+esc(model)+"/versions", nil, &out)
	return out.Versions, err
}

// Version returns a version by number, alias or "latest".
func (c *Client) Version(ctx context.Context, model, versionOrAlias string) (*registry.Version, error) {
	var out registry.Version
	err := c.do(ctx, "GET", "/api/v1/models/"+esc(model)+"/versions/"+esc(versionOrAlias), nil, &out)
	return &out, err
}

// DeleteVersion deletes a version.
func (c *Client) DeleteVersion(ctx context.Context, model string, version int, reason string) error {
	return c.do(ctx, "DELETE", "/api/v1/models/"+esc(model)+"/versions/"+strconv.Itoa(version)+"?reason="+url.QueryEscape(reason), nil, nil)
}

// Review approves or rejects a version.
func (c *Client) Review(ctx context.Context, model string, version int, state registry.ApprovalState, reason string) (*registry.Version, error) {
	var out registry.Version
	err := c.do(ctx, "POST", "/api/v1/models/"+esc(model)+"/versions/"+strconv.Itoa(version)+"/review", map[string]any{"state": state, "reason": reason}, &out)
	return &out, err
}

// SetAlias points an alias at a version.
func (c *Client) SetAlias(ctx context.Context, model, alias string, version int, reason string) (*registry.Model, error) {
	var m registry.Model
	err := c.do(ctx, "PUT", "/api/v1/models/"+esc(model)+"/aliases/"+esc(alias), map[string]any{"version": version, "reason": reason}, &m)
	return &m, err
}

// DeleteAlias removes an alias.
func (c *Client) DeleteAlias(ctx context.Context, model, alias, reason string) error {
	return c.do(ctx, "DELETE", "/api/v1/models/"+esc(model)+"/aliases/"+esc(alias)+"?reason="+url.QueryEscape(reason), nil, nil)
}

// Audit returns a model's audit trail, newest first.
func (c *Client) Audit(ctx context.Context, model string, limit int) ([]registry.AuditEvent, error) {
	var out struct {
		Events []registry.AuditEvent `json:"events"`
	}
	err := c.do(ctx, "GET", "/api/v1/models/"+esc(model)+"/audit?limit="+strconv.Itoa(limit), nil, &out)
	return out.Events, err
}

// --- datasets ---

// Datasets lists the datasets.
func (c *Client) Datasets(ctx context.Context) ([]string, error) {
	var out struct {
		Datasets []string `json:"datasets"`
	}
	err := c.do(ctx, "GET", "/api/v1/datasets", nil, &out)
	return out.Datasets, err
}

// SetSpec stores the expectations a dataset's batches are checked against.
func (c *Client) SetSpec(ctx context.Context, spec dataset.Spec) (*dataset.Spec, error) {
	var out dataset.Spec
	err := c.do(ctx, "PUT", "/api/v1/datasets/"+esc(spec.Name)+"/spec", spec, &out)
	return &out, err
}

// Spec returns a dataset's spec.
func (c *Client) Spec(ctx context.Context, name string) (*dataset.Spec, error) {
	var out dataset.Spec
	err := c.do(ctx, "GET", "/api/v1/datasets/"+esc(name)+"/spec", nil, &out)
	return &out, err
}

// IngestResult is what a batch became.
type IngestResult struct {
	Version    *dataset.Version    `json:"version,omitempty"`
	Quarantine *dataset.Quarantine `json:"quarantine,omitempty"`
}

// Ingest streams a batch (format "csv" or "parquet") into a dataset;
// source names where it came from ("" for the server's "upload").
func (c *Client) Ingest(ctx context.Context, name, format, source string, r io.Reader) (*IngestResult, error) {
	q := url.Values{"format": {format}}
	if source != "" {
		q.Set("source", source)
	}
	resp, err := c.send(ctx, "POST", "/api/v1/datasets/"+esc(name)+"/batches?"+q.Encode(), r, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out IngestResult
	return &out, json.NewDecoder(resp.Body).Decode(&out)
}

// DatasetVersions lists a dataset's versions, newest first.
func (c *Client) DatasetVersions(ctx context.Context, name string) ([]dataset.Version, error) {
	var out struct {
		Versions []dataset.Version `json:"versions"`
	}
	err := c.do(ctx, "GET", "/api/v1/datasets/"+esc(name)+"/versions", nil, &out)
	return out.Versions, err
}

// Quarantines lists a dataset's quarantines, newest first.
func (c *Client) Quarantines(ctx context.Context, name string) ([]dataset.Quarantine, error) {
	var out struct {
		Quarantines []dataset.Quarantine `json:"quarantines"`
	}
	err := c.do(ctx, "GET", "/api/v1/datasets/"+esc(name)+"/quarantines", nil, &out)
	return out.Quarantines, err
}

// InspectQuarantine returns a quarantine and a sample of its rows.
func (c *Client) InspectQuarantine(ctx context.Context, name, id string, limit int) (*dataset.Quarantine, *dataset.Sample, error) {
	var out struct {
		Quarantine dataset.Quarantine `json:"quarantine"`
		Sample     dataset.Sample     `json:"sample"`
	}
	err := c.do(ctx, "GET", "/api/v1/datasets/"+esc(name)+"/quarantines/"+esc(id)+"?limit="+strconv.Itoa(limit), nil, &out)
	return &out.Quarantine, &out.Sample, err
}

// Replay checks a quarantine's rows again with the current spec.
func (c *Client) Replay(ctx context.Context, name, id string) (*IngestResult, error) {
	var out IngestResult
	err := c.do(ctx, "POST", "/api/v1/datasets/"+esc(name)+"/quarantines/"+esc(id)+"/replay", nil, &out)
	return &out, err
}

// --- project and features ---

// Definitions returns the registered project definitions.
func (c *Client) Definitions(ctx context.Context) ([]project.Definition, error) {
	var out struct {
		Definitions []project.Definition `json:"definitions"`
	}
	err := c.do(ctx, "GET", "/api/v1/definitions", nil, &out)
	return out.Definitions, err
}

// ApplyDefinitions registers definitions atomically.
func (c *Client) ApplyDefinitions(ctx context.Context, set, remove []project.Definition) error {
	return c.do(ctx, "POST", "/api/v1/definitions/apply", map[string]any{"set": set, "remove": remove}, nil)
}

// TrainingSetResult is a built training set and the dataset version it is
// stored as.
type TrainingSetResult struct {
	Built   *feature.Built   `json:"training_set"`
	Version *dataset.Version `json:"version"`
}

// BuildTrainingSet sends a label table (format "csv" or "parquet") and
// builds the feature service's training set as of asOf (nil: now).
func (c *Client) BuildTrainingSet(ctx context.Context, service, timestamp string, asOf *time.Time, format string, labels io.Reader) (*TrainingSetResult, error) {
	q := url.Values{"service": {service}, "timestamp": {timestamp}, "format": {format}}
	if asOf != nil {
		q.Set("as_of", asOf.UTC().Format(time.RFC3339Nano))
	}
	resp, err := c.send(ctx, "POST", "/api/v1/training-sets?"+q.Encode(), labels, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out TrainingSetResult
	return &out, json.NewDecoder(resp.Body).Decode(&out)
}

// ViewRows streams a feature view's rows over [start, end) as Parquet; the
// caller closes the reader.
func (c *Client) ViewRows(ctx context.Context, view string, start, end time.Time, asOf *time.Time) (io.ReadCloser, error) {
	q := url.Values{"start": {start.UTC().Format(time.RFC3339Nano)}, "end": {end.UTC().Format(time.RFC3339Nano)}}
	if asOf != nil {
		q.Set("as_of", asOf.UTC().Format(time.RFC3339Nano))
	}
	resp, err := c.send(ctx, "GET", "/api/v1/feature-views/"+esc(view)+"/rows?"+q.Encode(), nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Materialize copies the newest feature values into the online store.
func (c *Client) Materialize(ctx context.Context, views ...string) ([]feature.MaterializeResult, error) {
	var out struct {
		Views []feature.MaterializeResult `json:"views"`
	}
	err := c.do(ctx, "POST", "/api/v1/materialize", map[string]any{"views": views}, &out)
	return out.Views, err
}

// OnlineFeatures returns a feature service's features for entity rows.
func (c *Client) OnlineFeatures(ctx context.Context, service string, entities []map[string]any) ([]string, []feature.OnlineRow, error) {
	var out struct {
		Features []string            `json:"features"`
		Rows     []feature.OnlineRow `json:"rows"`
	}
	err := c.do(ctx, "POST", "/api/v1/features/online", map[string]any{"service": service, "entities": entities}, &out)
	return out.Features, out.Rows, err
}

// PushResult is what pushed events became.
type PushResult struct {
	IngestResult
	Online []feature.MaterializeResult `json:"online,omitempty"`
}

// Push sends events (column -> value) to a dataset: validated, appended
// offline and written online at once.
func (c *Client) Push(ctx context.Context, name string, rows []map[string]any) (*PushResult, error) {
	var out PushResult
	err := c.do(ctx, "POST", "/api/v1/datasets/"+esc(name)+"/push", map[string]any{"rows": rows}, &out)
	return &out, err
}

// --- serving ---

// Endpoints lists endpoints and what they serve.
func (c *Client) Endpoints(ctx context.Context) ([]deploy.Endpoint, error) {
	var out struct {
		Endpoints []deploy.Endpoint `json:"endpoints"`
	}
	err := c.do(ctx, "GET", "/api/v1/endpoints", nil, &out)
	return out.Endpoints, err
}

// Deploy configures an endpoint: a model reference (model@alias, model@3)
// and, for canary, A/B or shadow, a candidate.
func (c *Client) Deploy(ctx context.Context, endpoint string, spec deploy.Spec) (*deploy.Endpoint, error) {
	var out deploy.Endpoint
	err := c.do(ctx, "POST", "/api/v1/endpoints/"+esc(endpoint)+"/deploy", spec, &out)
	return &out, err
}

// Promote makes an endpoint's candidate its only version.
func (c *Client) Promote(ctx context.Context, endpoint, reason string) (*deploy.Endpoint, error) {
	var out deploy.Endpoint
	err := c.do(ctx, "POST", "/api/v1/endpoints/"+esc(endpoint)+"/promote", map[string]any{"reason": reason}, &out)
	return &out, err
}

// Shadow returns how an endpoint's shadow compares with its stable version.
func (c *Client) Shadow(ctx context.Context, endpoint string) (*serve.ShadowStats, error) {
	var out serve.ShadowStats
	err := c.do(ctx, "GET", "/api/v1/endpoints/"+esc(endpoint)+"/shadow", nil, &out)
	return &out, err
}

// Rollback restores an endpoint's previous configuration.
func (c *Client) Rollback(ctx context.Context, endpoint, reason string) (*deploy.Endpoint, error) {
	var out deploy.Endpoint
	err := c.do(ctx, "POST", "/api/v1/endpoints/"+esc(endpoint)+"/rollback", map[string]any{"reason": reason}, &out)
	return &out, err
}

// EndpointHistory lists an endpoint's revisions, newest first.
func (c *Client) EndpointHistory(ctx context.Context, endpoint string) ([]deploy.Endpoint, error) {
	var out struct {
		Revisions []deploy.Endpoint `json:"revisions"`
	}
	err := c.do(ctx, "GET", "/api/v1/endpoints/"+esc(endpoint)+"/history", nil, &out)
	return out.Revisions, err
}

// TracePrediction returns the prediction log's records of a request to an
// endpoint, by the request id its response carried.
func (c *Client) TracePrediction(ctx context.Context, endpoint, requestID string) ([]serve.LogRecord, error) {
	var out struct {
		Records []serve.LogRecord `json:"records"`
	}
	err := c.do(ctx, "GET", "/api/v1/endpoints/"+esc(endpoint)+"/predictions/"+esc(requestID), nil, &out)
	return out.Records, err
}

// PredictResponse is an endpoint's answer.
type PredictResponse struct {
	serve.Response
	RequestID string `json:"request_id"`
}

// Predict scores instances with an endpoint; explain > 0 adds that many
// top feature contributions to each prediction.
func (c *Client) Predict(ctx context.Context, endpoint string, instances []map[string]any, explain int) (*PredictResponse, error) {
	return c.PredictVariant(ctx, endpoint, "", instances, explain)
}

// PredictVariant is Predict asking for a variant ("candidate" or
// "stable"; "" for the route's choice): how smoke tests reach the green
// version of a blue-green endpoint.
func (c *Client) PredictVariant(ctx context.Context, endpoint, variant string, instances []map[string]any, explain int) (*PredictResponse, error) {
	hdr := http.Header{}
	if variant != "" {
		hdr.Set("X-Plinth-Variant", variant)
	}
	return c.predict(ctx, endpoint, map[string]any{"instances": instances, "explain": explain}, hdr)
}

// predict posts a prediction request with extra headers.
func (c *Client) predict(ctx context.Context, endpoint string, req map[string]any, hdr http.Header) (*PredictResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.sendWith(ctx, "POST", "/api/v1/endpoints/"+esc(endpoint)+"/predict", bytes.NewReader(body), "application/json", hdr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out PredictResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("predict: decode response: %w", err)
	}
	return &out, nil
}

// Pipelines lists the registered pipelines with their newest runs.
func (c *Client) Pipelines(ctx context.Context) ([]pipeline.Summary, error) {
	var out struct {
		Pipelines []pipeline.Summary `json:"pipelines"`
	}
	err := c.do(ctx, "GET", "/api/v1/pipelines", nil, &out)
	return out.Pipelines, err
}

// PlanPipeline predicts which steps a run would take from the cache.
func (c *Client) PlanPipeline(ctx context.Context, name string, params map[string]any) ([]pipeline.StepPlan, error) {
	var out struct {
		Steps []pipeline.StepPlan `json:"steps"`
	}
	err := c.do(ctx, "POST", "/api/v1/pipelines/"+esc(name)+"/plan", map[string]any{"params": params}, &out)
	return out.Steps, err
}

// StartPipeline starts a run.
func (c *Client) StartPipeline(ctx context.Context, name string, params map[string]any) (*pipeline.Report, error) {
	var out pipeline.Report
	err := c.do(ctx, "POST", "/api/v1/pipelines/"+esc(name)+"/runs", map[string]any{"params": params}, &out)
	return &out, err
}

// PipelineRuns lists a pipeline's runs, newest first.
func (c *Client) PipelineRuns(ctx context.Context, name string, limit int) ([]pipeline.Report, error) {
	var out struct {
		Runs []pipeline.Report `json:"runs"`
	}
	err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/pipelines/%s/runs?limit=%d", esc(name), limit), nil, &out)
	return out.Runs, err
}

// PipelineRun returns a run with its attempts.
func (c *Client) PipelineRun(ctx context.Context, id string) (*pipeline.Report, error) {
	var out pipeline.Report
	err := c.do(ctx, "GET", "/api/v1/pipeline-runs/"+esc(id), nil, &out)
	return &out, err
}

// CancelPipelineRun cancels an unfinished run.
func (c *Client) CancelPipelineRun(ctx context.Context, id string) (*pipeline.Report, error) {
	var out pipeline.Report
	err := c.do(ctx, "POST", "/api/v1/pipeline-runs/"+esc(id)+"/cancel", nil, &out)
	return &out, err
}

// RerunPipeline starts a run from a past run's frozen definition.
func (c *Client) RerunPipeline(ctx context.Context, id string) (*pipeline.Report, error) {
	var out pipeline.Report
	err := c.do(ctx, "POST", "/api/v1/pipeline-runs/"+esc(id)+"/rerun", nil, &out)
	return &out, err
}

// MonitorReport returns an endpoint's monitoring report over [from, to);
// zero times mean the monitor's lookback before the newest window.
func (c *Client) MonitorReport(ctx context.Context, endpoint string, from, to time.Time) (*monitor.Report, error) {
	var out monitor.Report
	err := c.do(ctx, "GET", "/api/v1/monitors/"+esc(endpoint)+"/report"+timeQuery(from, to, ""), nil, &out)
	return &out, err
}

// MonitorReportHTML returns the report as an HTML page with plots.
func (c *Client) MonitorReportHTML(ctx context.Context, endpoint string, from, to time.Time) (io.ReadCloser, error) {
	resp, err := c.send(ctx, "GET", "/api/v1/monitors/"+esc(endpoint)+"/report"+timeQuery(from, to, "html"), nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func timeQuery(from, to time.Time, format string) string {
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.UTC().Format(time.RFC3339))
	}
	if !to.IsZero() {
		q.Set("to", to.UTC().Format(time.RFC3339))
	}
	if format != "" {
		q.Set("format", format)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// CheckMonitor reports on an endpoint's latest period and evaluates its
// alert rules.
func (c *Client) CheckMonitor(ctx context.Context, endpoint string) (*monitor.Report, []monitor.Alert, error) {
	var out struct {
		Report *monitor.Report `json:"report"`
		Fired  []monitor.Alert `json:"fired"`
	}
	err := c.do(ctx, "POST", "/api/v1/monitors/"+esc(endpoint)+"/check", nil, &out)
	return out.Report, out.Fired, err
}

// Alerts lists an endpoint's alerts, newest first.
func (c *Client) Alerts(ctx context.Context, endpoint string) ([]monitor.Alert, error) {
	var out struct {
		Alerts []monitor.Alert `json:"alerts"`
	}
	err := c.do(ctx, "GET", "/api/v1/monitors/"+esc(endpoint)+"/alerts", nil, &out)
	return out.Alerts, err
}

// Silence mutes an alert rule's notifications for a while, saying why.
func (c *Client) Silence(ctx context.Context, endpoint, rule string, d time.Duration, reason string) (*monitor.Silence, error) {
	var out monitor.Silence
	err := c.do(ctx, "POST", "/api/v1/monitors/"+esc(endpoint)+"/alerts/"+esc(rule)+"/silence", map[string]any{"for": d.String(), "reason": reason}, &out)
	return &out, err
}

// PredictAt scores instances as of a time (a replay or backfill), with a
// request id that labels can later be joined on.
func (c *Client) PredictAt(ctx context.Context, endpoint, requestID string, at time.Time, instances []map[string]any) (*PredictResponse, error) {
	hdr := http.Header{}
	if requestID != "" {
		hdr.Set("X-Request-Id", requestID)
	}
	return c.predict(ctx, endpoint, map[string]any{"instances": instances, "time": at.UTC()}, hdr)
}

// DecideStep approves (or rejects) a run's step that waits for a person.
func (c *Client) DecideStep(ctx context.Context, run, step string, approve bool, reason string) (*pipeline.Report, error) {
	var out pipeline.Report
	err := c.do(ctx, "POST", "/api/v1/pipeline-runs/"+esc(run)+"/steps/"+esc(step)+"/approval", map[string]any{"approve": approve, "reason": reason}, &out)
	return &out, err
}

// Skew compares the features an endpoint served by entity with the
// offline store's for the same entities and times.
func (c *Client) Skew(ctx context.Context, endpoint string, sample int) (*monitor.Skew, error) {
	var out monitor.Skew
	err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/monitors/%s/skew?sample=%d", esc(endpoint), sample), nil, &out)
	return &out, err
}
