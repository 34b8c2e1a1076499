namespace LowBitQuant;

/// <summary>Which second-order statistics of a layer's inputs a quantizer needs.</summary>
public enum HessianKind
{
    /// <summary>No calibration statistics (RTN).</summary>
    None,

    /// <summary>The diagonal of H = XᵀX / tokens: the mean square of each input channel (DASH-Q, imatrix).</summary>
    Diagonal,

    /// <summary>The full H = XᵀX / tokens (GPTQ, HeRo-Q).</summary>
    Full,
}
