namespace LowBitQuant.Rotation;

/// <summary>
/// The finite field GF(p^k): polynomials over GF(p) of degree below k, modulo the lexicographically first monic
/// irreducible polynomial of degree k. An element is stored as the integer Σ c_i·p^i of its coefficients.
/// Used to build Paley Hadamard matrices over prime powers (rotations.md §3.1).
/// </summary>
internal sealed class GaloisField
{
    private readonly int[] _modulus; // monic: coefficients c_0 … c_{k−1}, c_k = 1

    private GaloisField(int p, int k, int[] modulus)
    {
        Characteristic = p;
        Degree = k;
        Order = checked((int)Math.Pow(p, k));
        _modulus = modulus;
    }

    /// <summary>p.</summary>
    public int Characteristic { get; }

    /// <summary>k.</summary>
    public int Degree { get; }

    /// <summary>q = p^k.</summary>
    public int Order { get; }

    /// <summary>The reduction polynomial as text, highest degree first, e.g. "x^3 + 2x + 1"; "x" over a prime field.</summary>
    public string Polynomial
    {
        get
        {
            if (Degree == 1)
            {
                return "x";
            }

            var terms = new List<string> { Degree == 1 ? "x" : $"x^{Degree}" };
            for (int i = Degree - 1; i >= 0; i--)
            {
                int c = _modulus[i];
                if (c == 0)
                {
                    continue;
                }

                string coeff = c == 1 && i > 0 ? string.Empty : c.ToString(System.Globalization.CultureInfo.InvariantCulture);
                terms.Add(i switch { 0 => coeff, 1 => coeff + "x", _ => $"{coeff}x^{i}" });
            }

            return string.Join(" + ", terms);
        }
    }

    /// <summary>Creates GF(q) when q is an odd or even prime power; returns <see langword="null"/> otherwise.</summary>
    public static GaloisField? TryCreate(int q)
    {
        if (q < 2 || !TryPrimePower(q, out int p, out int k))
        {
            return null;
        }

        return new GaloisField(p, k, k == 1 ? [0] : FirstIrreducible(p, k));
    }

    /// <summary>Whether q = p^k for a prime p and k ≥ 1.</summary>
    public static bool TryPrimePower(int q, out int p, out int k)
    {
        p = 0;
        k = 0;
        if (q < 2)
        {
            return false;
        }

        int f = 2;
        while ((long)f * f <= q && q % f != 0)
        {
            f++;
        }

        if (q % f != 0)
        {
            f = q; // q itself is prime
        }

        int rest = q;
        while (rest % f == 0)
        {
            rest /= f;
            k++;
        }

        if (rest != 1)
        {
            k = 0;
            return false;
        }

        p = f;
        return true;
    }

    /// <summary>a − b.</summary>
    public int Subtract(int a, int b)
    {
        if (Degree == 1)
        {
            int r = a - b;
            return r < 0 ? r + Characteristic : r;
        }

        int result = 0, place = 1, p = Characteristic;
        for (int i = 0; i < Degree; i++)
        {
            int d = ((a % p) - (b % p) + p) % p;
            result += d * place;
            place *= p;
            a /= p;
            b /= p;
        }

        return result;
    }

    /// <summary>a · b.</summary>
    public int Multiply(int a, int b)
    {
        int p = Characteristic;
        if (Degree == 1)
        {
            return (int)((long)a * b % p);
        }

        int k = Degree;
        var x = Digits(a);
        var y = Digits(b);
        var prod = new int[(2 * k) - 1];
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++)
            {
                prod[i + j] = (prod[i + j] + (x[i] * y[j])) % p;
            }
        }

        // Reduce with x^k = −Σ m_i x^i.
        for (int d = prod.Length - 1; d >= k; d--)
        {
            int c = prod[d];
            if (c == 0)
            {
                continue;
            }

            prod[d] = 0;
            for (int i = 0; i < k; i++)
            {
                prod[d - k + i] = ((prod[d - k + i] - (c * _modulus[i])) % p + p) % p;
            }
        }

        int result = 0, place = 1;
        for (int i = 0; i < k; i++)
        {
            result += prod[i] * place;
            place *= p;
        }

        return result;
    }

    /// <summary>The quadratic character χ of every element: 0 for 0, 1 for non-zero squares, −1 otherwise.</summary>
    public sbyte[] QuadraticCharacter()
    {
        var chi = new sbyte[Order];
        Array.Fill(chi, (sbyte)-1);
        chi[0] = 0;
        for (int a = 1; a < Order; a++)
        {
            chi[Multiply(a, a)] = 1;
        }

        return chi;
    }

    private int[] Digits(int a)
    {
        var d = new int[Degree];
        for (int i = 0; i < Degree; i++)
        {
            d[i] = a % Characteristic;
            a /= Characteristic;
        }

        return d;
    }

    /// <summary>The lexicographically first (by c_{k−1} … c_0 as base-p digits of the integer code) monic irreducible polynomial of degree k.</summary>
    private static int[] FirstIrreducible(int p, int k)
    {
        int count = (int)Math.Pow(p, k);
        for (int code = 0; code < count; code++)
        {
            var f = new int[k + 1];
            int c = code;
            for (int i = 0; i < k; i++)
            {
                f[i] = c % p;
                c /= p;
            }

            f[k] = 1;
            if (f[0] != 0 && IsIrreducible(f, p))
            {
                return f[..k];
            }
        }

        throw new InvalidOperationException($"No irreducible polynomial of degree {k} over GF({p}) was found; this cannot happen.");
    }

    /// <summary>Trial division by every monic polynomial of degree 1 … k/2.</summary>
    private static bool IsIrreducible(int[] f, int p)
    {
        int k = f.Length - 1;
        for (int d = 1; d <= k / 2; d++)
        {
            int count = (int)Math.Pow(p, d);
            for (int code = 0; code < count; code++)
            {
                var g = new int[d + 1];
                int c = code;
                for (int i = 0; i < d; i++)
                {
                    g[i] = c % p;
                    c /= p;
                }

                g[d] = 1;
                if (RemainderIsZero(f, g, p))
                {
                    return false;
                }
            }
        }

        return true;
    }

    private static bool RemainderIsZero(int[] f, int[] g, int p)
    {
        var r = (int[])f.Clone();
        int dg = g.Length - 1;
        for (int d = r.Length - 1; d >= dg; d--)
        {
            int c = r[d];
            if (c == 0)
            {
                continue;
            }

            for (int i = 0; i <= dg; i++)
            {
                r[d - dg + i] = ((r[d - dg + i] - (c * g[i])) % p + p) % p;
            }
        }

        for (int i = 0; i < dg; i++)
        {
            if (r[i] != 0)
            {
                return false;
            }
        }

        return true;
    }
}
