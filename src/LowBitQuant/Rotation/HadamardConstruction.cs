using System.Collections.Concurrent;
using System.Globalization;

namespace LowBitQuant.Rotation;

/// <summary>
/// Generates Hadamard matrices of order n = K·2^m as H_K ⊗ H_{2^m}, with H_K built by Sylvester (K = 1), Paley I or
/// Paley II over GF(q) (prime powers included). Nothing is copied from tables; every core is verified (H·Hᵀ = K·I)
/// when first built: exactly (bit-packed row comparisons, every order) and once more through H·(Hᵀ·v) = K·v on a random integer vector.
/// </summary>
internal sealed class HadamardConstruction
{
    /// <summary>The largest dense core this library builds (K² bytes cached, n·K work per row).</summary>
    public const int MaxCoreOrder = 2048;

    private static readonly ConcurrentDictionary<int, sbyte[]> Cores = new();

    private HadamardConstruction(int size, int coreOrder, HadamardCoreKind kind, GaloisField? field)
    {
        Size = size;
        CoreOrder = coreOrder;
        PowerOfTwo = size / coreOrder;
        Kind = kind;
        Field = field;
    }

    /// <summary>n.</summary>
    public int Size { get; }

    /// <summary>K, the order of the dense factor.</summary>
    public int CoreOrder { get; }

    /// <summary>2^m, the Sylvester (FWHT) factor.</summary>
    public int PowerOfTwo { get; }

    /// <summary>How H_K is built.</summary>
    public HadamardCoreKind Kind { get; }

    /// <summary>GF(q) of a Paley core, or <see langword="null"/>.</summary>
    public GaloisField? Field { get; }

    /// <summary>A persisted description: kind, n, K, 2^m, q with its polynomial, and the Kronecker order.</summary>
    public string Descriptor
    {
        get
        {
            var c = CultureInfo.InvariantCulture;
            string core = Kind switch
            {
                HadamardCoreKind.Sylvester => "core=sylvester",
                _ => string.Create(c, $"core={(Kind == HadamardCoreKind.PaleyI ? "paley-i" : "paley-ii")};q={Field!.Order}={Field.Characteristic}^{Field.Degree};poly={Field.Polynomial}"),
            };
            return string.Create(c, $"n={Size};K={CoreOrder};2^m={PowerOfTwo};{core};kronecker=H_K(x)H_2^m(row index = a*2^m + b)");
        }
    }

    /// <summary>Chooses the construction for n (smallest constructible K, rotations.md §3.2), or <see langword="null"/> when there is none.</summary>
    public static HadamardConstruction? TryPlan(int n)
    {
        if (n < 1)
        {
            return null;
        }

        int m = System.Numerics.BitOperations.TrailingZeroCount(n);
        for (; m >= 0; m--)
        {
            int k = n >> m;
            if (k == 1)
            {
                return new HadamardConstruction(n, 1, HadamardCoreKind.Sylvester, null);
            }

            if (k > MaxCoreOrder)
            {
                break;
            }

            var core = TryCore(k);
            if (core is not null)
            {
                return new HadamardConstruction(n, k, core.Value.Kind, core.Value.Field);
            }
        }

        return null;
    }

    /// <summary>The ±1 K × K core, row-major; built, verified and cached on first use.</summary>
    public sbyte[] GetCore() => Kind == HadamardCoreKind.Sylvester ? [1] : Cores.GetOrAdd(CoreOrder, _ => BuildVerified());

    /// <summary>
    /// Whether H·Hᵀ = K·I holds exactly: every entry is ±1 and every two distinct rows differ in exactly K/2 places
    /// (their dot product is K − 2·differences). Rows are packed into bit masks, so the check is cheap up to the largest core.
    /// </summary>
    public static bool IsHadamardExact(ReadOnlySpan<sbyte> h, int k)
    {
        if (h.Length != k * k)
        {
            return false;
        }

        int words = (k + 63) / 64;
        var bits = new ulong[k * words];
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++)
            {
                sbyte v = h[(i * k) + j];
                if (v is not (1 or -1))
                {
                    return false;
                }

                if (v < 0)
                {
                    bits[(i * words) + (j >> 6)] |= 1UL << (j & 63);
                }
            }
        }

        for (int i = 0; i < k; i++)
        {
            for (int j = i + 1; j < k; j++)
            {
                int differences = 0;
                for (int w = 0; w < words; w++)
                {
                    differences += System.Numerics.BitOperations.PopCount(bits[(i * words) + w] ^ bits[(j * words) + w]);
                }

                if (k - (2 * differences) != 0)
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>Checks H·(Hᵀ·v) = K·v for a few seeded integer vectors v (O(K²) each).</summary>
    public static bool PassesRandomCheck(ReadOnlySpan<sbyte> h, int k, int vectors, int seed)
    {
        var rng = new Random(seed);
        var v = new long[k];
        var u = new long[k];
        for (int t = 0; t < vectors; t++)
        {
            for (int i = 0; i < k; i++)
            {
                v[i] = rng.Next(-8, 9);
            }

            Array.Clear(u);
            for (int i = 0; i < k; i++)
            {
                for (int j = 0; j < k; j++)
                {
                    u[j] += h[(i * k) + j] * v[i]; // u = Hᵀ v
                }
            }

            for (int i = 0; i < k; i++)
            {
                long s = 0;
                for (int j = 0; j < k; j++)
                {
                    s += h[(i * k) + j] * u[j];
                }

                if (s != k * v[i])
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>Builds the Paley I (order q + 1) or Paley II (order 2(q + 1)) matrix over <paramref name="field"/>.</summary>
    public static sbyte[] BuildPaley(HadamardCoreKind kind, GaloisField field)
    {
        int q = field.Order;
        var chi = field.QuadraticCharacter();

        // Jacobsthal Q[a, b] = χ(a − b), bordered: index 0 is the extra row/column, element e of GF(q) is index e + 1.
        int c = q + 1;
        var border = new sbyte[c * c];
        for (int a = 0; a < q; a++)
        {
            for (int b = 0; b < q; b++)
            {
                border[((a + 1) * c) + b + 1] = chi[field.Subtract(a, b)];
            }
        }

        if (kind == HadamardCoreKind.PaleyI)
        {
            // H = I + [[0, 1ᵀ], [−1, Q]].
            for (int i = 1; i < c; i++)
            {
                border[i] = 1;
                border[i * c] = -1;
            }

            for (int i = 0; i < c; i++)
            {
                border[(i * c) + i] += 1;
            }

            return border;
        }

        // Conference matrix C = [[0, 1ᵀ], [1, Q]]; H = I ⊗ A + C ⊗ B, A = [[1, −1], [−1, −1]], B = [[1, 1], [1, −1]].
        for (int i = 1; i < c; i++)
        {
            border[i] = 1;
            border[i * c] = 1;
        }

        int k = 2 * c;
        var h = new sbyte[k * k];
        for (int i = 0; i < c; i++)
        {
            for (int j = 0; j < c; j++)
            {
                int e = border[(i * c) + j];
                sbyte b00, b01, b10, b11;
                if (e == 0)
                {
                    (b00, b01, b10, b11) = (1, -1, -1, -1);
                }
                else
                {
                    (b00, b01, b10, b11) = ((sbyte)e, (sbyte)e, (sbyte)e, (sbyte)-e);
                }

                h[(2 * i * k) + (2 * j)] = b00;
                h[(2 * i * k) + (2 * j) + 1] = b01;
                h[(((2 * i) + 1) * k) + (2 * j)] = b10;
                h[(((2 * i) + 1) * k) + (2 * j) + 1] = b11;
            }
        }

        return h;
    }

    /// <summary>Which Paley construction gives order exactly k, preferring a prime field, then Paley I.</summary>
    internal static (HadamardCoreKind Kind, GaloisField Field)? TryCore(int k)
    {
        (HadamardCoreKind, int)? best = null;
        bool bestPrime = false;
        void Consider(HadamardCoreKind kind, int q, int residue)
        {
            if (q < 3 || q % 4 != residue || !GaloisField.TryPrimePower(q, out _, out int degree))
            {
                return;
            }

            bool prime = degree == 1;
            if (best is null || (prime && !bestPrime))
            {
                best = (kind, q);
                bestPrime = prime;
            }
        }

        if (k % 4 != 0)
        {
            return null;
        }

        Consider(HadamardCoreKind.PaleyI, k - 1, 3);
        Consider(HadamardCoreKind.PaleyII, (k / 2) - 1, 1);
        if (best is null)
        {
            return null;
        }

        return (best.Value.Item1, GaloisField.TryCreate(best.Value.Item2)!);
    }

    private sbyte[] BuildVerified()
    {
        var h = BuildPaley(Kind, Field!);
        bool ok = IsHadamardExact(h, CoreOrder) && PassesRandomCheck(h, CoreOrder, 1, CoreOrder);
        if (!ok)
        {
            throw new InvalidOperationException($"The generated {Kind} matrix of order {CoreOrder} failed its H·Hᵀ = K·I check; this is a bug in LowBitQuant.");
        }

        return h;
    }
}
