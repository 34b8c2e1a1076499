namespace LowBitQuant;

/// <summary>How the dense K × K factor of a Hadamard rotation H_K ⊗ H_{2^m} is built (rotations.md §2–3).</summary>
public enum HadamardCoreKind
{
    /// <summary>K = 1: the rotation is a pure Sylvester matrix H_{2^m}, applied by the FWHT alone.</summary>
    Sylvester,

    /// <summary>Paley I over GF(q), q ≡ 3 (mod 4): order K = q + 1.</summary>
    PaleyI,

    /// <summary>Paley II over GF(q), q ≡ 1 (mod 4): order K = 2(q + 1).</summary>
    PaleyII,
}
