/*
 * flowpolicy's native matrix product: single-precision GEMM from the
 * system's BLAS (OpenBLAS from Debian's libopenblas-dev), exposed to Node
 * through Node-API so the tfjs wasm backend can run its matrix products
 * natively on the tensors it keeps in WebAssembly memory. WebAssembly SIMD
 * has 128-bit vectors and no fused multiply-add; a native BLAS uses the
 * CPU's full vector width, which is where most of a training step's time
 * goes.
 *
 * Everything here works on typed-array views the caller made; no memory is
 * allocated or kept across calls.
 */
#include <cblas.h>
#include <math.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* From OpenBLAS (declared in its cblas.h on Debian; repeated here for other BLAS headers). */
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);

#define CHECK(call)                                                                                                    \
  do {                                                                                                                 \
    if ((call) != napi_ok) {                                                                                           \
      napi_throw_error(env, NULL, "flowpolicy_blas: Node-API call failed: " #call);                                    \
      return NULL;                                                                                                     \
    }                                                                                                                  \
  } while (0)

static bool get_int(napi_env env, napi_value v, int64_t *out, const char *name) {
  if (napi_get_value_int64(env, v, out) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "flowpolicy_blas: %s must be an integer", name);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  return true;
}

/* A Float32Array argument: its data pointer and length in floats. */
static bool get_f32(napi_env env, napi_value v, float **data, size_t *length, const char *name) {
  bool is_typed = false;
  napi_typedarray_type type;
  void *ptr = NULL;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &type, length, &ptr, NULL, NULL) != napi_ok || type != napi_float32_array) {
    char msg[128];
    snprintf(msg, sizeof msg, "flowpolicy_blas: %s must be a Float32Array", name);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  *data = (float *)ptr;
  return true;
}

/*
 * sgemm(transA, transB, batch, M, N, K, a, strideA, b, strideB, c)
 *   c[i] = op(a[i]) @ op(b[i]) for i < batch, row-major, op = transpose when
 *   the flag is set; op(a) is M x K, op(b) K x N, c[i] M x N (stride M N).
 *   strideA / strideB are the floats between consecutive batch entries: 0
 *   broadcasts one matrix over the batch.
 */
static napi_value sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 11) {
    napi_throw_type_error(env, NULL, "flowpolicy_blas: sgemm takes 11 arguments");
    return NULL;
  }
  bool ta = false, tb = false;
  CHECK(napi_get_value_bool(env, argv[0], &ta));
  CHECK(napi_get_value_bool(env, argv[1], &tb));
  int64_t batch, m, n, k, sa, sb;
  float *a, *b, *c;
  size_t la, lb, lc;
  if (!get_int(env, argv[2], &batch, "batch") || !get_int(env, argv[3], &m, "M") || !get_int(env, argv[4], &n, "N") ||
      !get_int(env, argv[5], &k, "K") || !get_f32(env, argv[6], &a, &la, "a") || !get_int(env, argv[7], &sa, "strideA") ||
      !get_f32(env, argv[8], &b, &lb, "b") || !get_int(env, argv[9], &sb, "strideB") || !get_f32(env, argv[10], &c, &lc, "c"))
    return NULL;
  /* Bounds: a wrong shape must throw here, not read or write outside the views. */
  if (batch < 1 || m < 0 || n < 0 || k < 0 || sa < 0 || sb < 0 || (uint64_t)(batch - 1) * sa + m * k > la ||
      (uint64_t)(batch - 1) * sb + k * n > lb || (uint64_t)batch * m * n > lc) {
    napi_throw_range_error(env, NULL, "flowpolicy_blas: sgemm shapes do not fit the arrays given");
    return NULL;
  }
  const int lda = ta ? (int)m : (int)k;
  const int ldb = tb ? (int)k : (int)n;
  for (int64_t i = 0; i < batch; i++) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, 1.0f,
                a + i * sa, lda, b + i * sb, ldb, 0.0f, c + i * m * n, (int)n);
  }
  return NULL;
}

/*
 * Mish and its gradient in one pass (formulas in src/nets/activations.ts):
 * with e = exp(x), n = e (e + 2): mish(x) = x n / (n + 2), mish'(x) =
 * n / (n + 2) + 4 x e (e + 1) / (n + 2)^2; x itself (slope 1) above 20.
 * Branch-free so the compiler vectorises the loop, exp included.
 */
static void mish_f32(const float *x, float *y, size_t len) {
  for (size_t i = 0; i < len; i++) {
    const float xi = x[i];
    const float e = expf(fminf(xi, 20.0f));
    const float n = e * (e + 2.0f);
    y[i] = xi > 20.0f ? xi : xi * n / (n + 2.0f);
  }
}

static void mish_grad_f32(const float *x, const float *dy, float *dx, size_t len) {
  for (size_t i = 0; i < len; i++) {
    const float xi = x[i];
    const float e = expf(fminf(xi, 20.0f));
    const float n = e * (e + 2.0f);
    const float d = n + 2.0f;
    const float slope = n / d + 4.0f * xi * e * (e + 1.0f) / (d * d);
    dx[i] = dy[i] * (xi > 20.0f ? 1.0f : slope);
  }
}

static bool get_f64(napi_env env, napi_value v, double *out, const char *name) {
  if (napi_get_value_double(env, v, out) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "flowpolicy_blas: %s must be a number", name);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  return true;
}

#define MAX_ARGS 16

/*
 * The arguments of an elementwise kernel: `arrays` Float32Arrays of one
 * length (returned in `len`), then `scalars` numbers. Throws naming the
 * kernel and the argument, and returns false, on anything else.
 */
static bool get_elementwise_args(napi_env env, napi_callback_info info, const char *op, int arrays, const char *const *names, float **a,
                                 int scalars, const char *const *scalar_names, double *k, size_t *len) {
  size_t argc = MAX_ARGS;
  napi_value argv[MAX_ARGS];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "flowpolicy_blas: Node-API call failed: napi_get_cb_info");
    return false;
  }
  char msg[160];
  if ((int)argc != arrays + scalars) {
    snprintf(msg, sizeof msg, "flowpolicy_blas: %s takes %d arguments", op, arrays + scalars);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  for (int i = 0; i < arrays; i++) {
    size_t n;
    if (!get_f32(env, argv[i], &a[i], &n, names[i])) return false;
    if (i == 0) *len = n;
    if (n != *len) {
      snprintf(msg, sizeof msg, "flowpolicy_blas: %s arrays differ in length (%s)", op, names[i]);
      napi_throw_range_error(env, NULL, msg);
      return false;
    }
  }
  for (int i = 0; i < scalars; i++)
    if (!get_f64(env, argv[arrays + i], &k[i], scalar_names[i])) return false;
  return true;
}

/* mish(x, y) and mishGrad(x, dy, dx): Float32Arrays of one length. */
static napi_value mish(napi_env env, napi_callback_info info) {
  static const char *const names[] = {"x", "y"};
  float *a[2];
  size_t len;
  if (!get_elementwise_args(env, info, "mish", 2, names, a, 0, NULL, NULL, &len)) return NULL;
  mish_f32(a[0], a[1], len);
  return NULL;
}

static napi_value mish_grad(napi_env env, napi_callback_info info) {
  static const char *const names[] = {"x", "dy", "dx"};
  float *a[3];
  size_t len;
  if (!get_elementwise_args(env, info, "mishGrad", 3, names, a, 0, NULL, NULL, &len)) return NULL;
  mish_grad_f32(a[0], a[1], a[2], len);
  return NULL;
}

/*
 * adamw(p, g, m, v, pOut, mOut, vOut, b1, b2, bc1, bc2, eps, lr, decay, scale):
 * one AdamW update of a parameter tensor (the formula of src/train/adamw.ts):
 *   g' = scale g;  m' = b1 m + (1 - b1) g';  v' = b2 v + (1 - b2) g'^2
 *   p' = decay p - lr (m' / bc1) / (sqrt(v' / bc2) + eps)
 */
static napi_value adamw(napi_env env, napi_callback_info info) {
  static const char *const names[] = {"p", "g", "m", "v", "pOut", "mOut", "vOut"};
  static const char *const scalars[] = {"b1", "b2", "bc1", "bc2", "eps", "lr", "decay", "scale"};
  float *a[7];
  double k[8];
  size_t n;
  if (!get_elementwise_args(env, info, "adamw", 7, names, a, 8, scalars, k, &n)) return NULL;
  const float b1 = (float)k[0], b2 = (float)k[1], ibc1 = (float)(1.0 / k[2]), ibc2 = (float)(1.0 / k[3]), eps = (float)k[4],
              lr = (float)k[5], decay = (float)k[6], scale = (float)k[7];
  const float *p = a[0], *g = a[1], *m = a[2], *v = a[3];
  float *po = a[4], *mo = a[5], *vo = a[6];
  for (size_t i = 0; i < n; i++) {
    const float gi = g[i] * scale;
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    mo[i] = mi;
    vo[i] = vi;
    po[i] = p[i] * decay - lr * (mi * ibc1) / (sqrtf(vi * ibc2) + eps);
  }
  return NULL;
}

/* ema(e, p, out, d): out = d e + (1 - d) p, the EMA of weights. */
static napi_value ema(napi_env env, napi_callback_info info) {
  static const char *const names[] = {"ema", "p", "out"};
  static const char *const scalars[] = {"d"};
  float *a[3];
  double d;
  size_t le;
  if (!get_elementwise_args(env, info, "ema", 3, names, a, 1, scalars, &d, &le)) return NULL;
  const float *e = a[0], *p = a[1];
  float *o = a[2];
  const float df = (float)d, cf = (float)(1.0 - d);
  for (size_t i = 0; i < le; i++) o[i] = df * e[i] + cf * p[i];
  return NULL;
}

static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t n = 0;
  if (argc != 1 || !get_int(env, argv[0], &n, "threads")) return NULL;
  if (n < 1) {
    napi_throw_range_error(env, NULL, "flowpolicy_blas: threads must be at least 1");
    return NULL;
  }
  openblas_set_num_threads((int)n);
  return NULL;
}

static napi_value get_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  CHECK(napi_create_int32(env, openblas_get_num_threads(), &out));
  return out;
}

static napi_value get_config(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  CHECK(napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemm", NULL, sgemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mish", NULL, mish, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mishGrad", NULL, mish_grad, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adamw", NULL, adamw, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ema", NULL, ema, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"threads", NULL, get_threads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"config", NULL, get_config, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
