/**
 * The natural logarithm, correctly rounded to the nearest double.
 *
 * Why not `Math.log`: V8's `Math.log` (an fdlibm port) is only faithful
 * (error < 1 ulp), while numpy's legacy `randn` calls the C library's `log`,
 * which on glibc is correctly rounded in practice. The two disagree in the
 * last bit for about 3% of the arguments `randn` feeds it, and one bit of
 * `log(r2)` changes the normal deviate, so a reset angle would no longer be
 * numpy's. Computing the log in double-double (~106 bits) and rounding once
 * gives glibc's answer except for arguments whose log lies within ~2^-100
 * relative of a rounding midpoint.
 *
 * Method: x = m 2^e with m in [sqrt(1/2), sqrt(2)), so
 *   ln x = e ln2 + ln m,   ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...),
 *   s = (m - 1) / (m + 1),  |s| <= 0.1716,  s^2 <= 0.0295,
 * and 24 odd terms bring the truncation error below 2^-120.
 */

/** A double-double: the unevaluated sum hi + lo with |lo| <= ulp(hi) / 2. */
interface DD {
  hi: number;
  lo: number;
}

// ln 2 split into two doubles: hi is ln 2 rounded to 53 bits, lo the rest.
const LN2: DD = { hi: 0.6931471805599453, lo: 2.3190468138462996e-17 };
const TERMS = 24;
const SPLITTER = 134217729; // 2^27 + 1, Veltkamp's splitting constant

function twoSum(a: number, b: number): DD {
  const s = a + b;
  const bb = s - a;
  return { hi: s, lo: a - (s - bb) + (b - bb) };
}

function quickTwoSum(a: number, b: number): DD {
  const s = a + b;
  return { hi: s, lo: b - (s - a) };
}

function twoProd(a: number, b: number): DD {
  const p = a * b;
  const ta = SPLITTER * a;
  const ah = ta - (ta - a);
  const al = a - ah;
  const tb = SPLITTER * b;
  const bh = tb - (tb - b);
  const bl = b - bh;
  return { hi: p, lo: ah * bh - p + ah * bl + al * bh + al * bl };
}

function add(a: DD, b: DD): DD {
  const s = twoSum(a.hi, b.hi);
  const t = twoSum(a.lo, b.lo);
  let r = quickTwoSum(s.hi, s.lo + t.hi);
  r = quickTwoSum(r.hi, r.lo + t.lo);
  return r;
}

function mul(a: DD, b: DD): DD {
  const p = twoProd(a.hi, b.hi);
  return quickTwoSum(p.hi, p.lo + (a.hi * b.lo + a.lo * b.hi));
}

function mulNum(a: DD, b: number): DD {
  const p = twoProd(a.hi, b);
  return quickTwoSum(p.hi, p.lo + a.lo * b);
}

function div(a: DD, b: DD): DD {
  // Two rounds of long division: q1 + q2 carries ~106 bits of a / b.
  const q1 = a.hi / b.hi;
  let r = add(a, mulNum(b, -q1));
  const q2 = r.hi / b.hi;
  r = add(r, mulNum(b, -q2));
  const q3 = r.hi / b.hi;
  return add(quickTwoSum(q1, q2), { hi: q3, lo: 0 });
}

/** Split a positive finite double into m in [sqrt(1/2), sqrt(2)) and e with x = m 2^e (exactly). */
function frexpCentered(x: number): { m: number; e: number } {
  let e = 0;
  let m = x;
  // Subnormals: scale into the normal range first (multiplying by 2^54 is exact).
  if (m < 2.2250738585072014e-308) {
    m *= 18014398509481984;
    e -= 54;
  }
  const bits = new DataView(new ArrayBuffer(8));
  bits.setFloat64(0, m);
  const hiWord = bits.getUint32(0);
  const exp = ((hiWord >>> 20) & 0x7ff) - 1023;
  bits.setUint32(0, (hiWord & 0x800fffff) | (1023 << 20));
  m = bits.getFloat64(0); // now in [1, 2)
  e += exp;
  if (m >= Math.SQRT2) {
    m /= 2;
    e += 1;
  }
  return { m, e };
}

/** ln(x), correctly rounded for all but astronomically rare x; NaN/Inf/0/negative as Math.log. */
export function exactLog(x: number): number {
  if (!(x > 0) || x === Infinity) return Math.log(x);
  if (x === 1) return 0;
  const { m, e } = frexpCentered(x);
  // m - 1 is exact (Sterbenz); m + 1 may round, so keep its error term.
  const s = div({ hi: m - 1, lo: 0 }, twoSum(m, 1));
  const s2 = mul(s, s);
  let power = s;
  let series: DD = { hi: 0, lo: 0 };
  for (let k = 0; k < TERMS; k++) {
    series = add(series, div(power, { hi: 2 * k + 1, lo: 0 }));
    power = mul(power, s2);
  }
  const lnM = mulNum(series, 2);
  const eLn2 = add(twoProd(e, LN2.hi), { hi: e * LN2.lo, lo: 0 });
  const r = add(eLn2, lnM);
  return r.hi + r.lo;
}
