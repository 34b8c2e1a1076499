using LowBitQuant.Kernels.Cpu;
using LowBitQuant.Quantizers;

namespace LowBitQuant;

/// <summary>Round-to-nearest: each group gets its min–max (or clip-searched) affine grid and every weight its nearest code.</summary>
/// <remarks>Minimises nothing across weights; it is the baseline every calibrated method must beat.
/// When a Hessian is given and a <see cref="ClipSearch"/> is set, the search weights each column by its diagonal entry h_j.</remarks>
public sealed class RtnQuantizer : IQuantizer
{
    /// <summary>Creates an RTN quantizer.</summary>
    /// <param name="scheme">The grid.</param>
    /// <param name="clipSearch">An optional clipping search; <see langword="null"/> for plain min–max.</param>
    public RtnQuantizer(QuantizationScheme scheme, ClipSearch? clipSearch = null)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        Scheme = scheme;
        ClipSearch = clipSearch;
    }

    /// <inheritdoc/>
    public QuantizationScheme Scheme { get; }

    /// <summary>The clipping search, or <see langword="null"/> for min–max.</summary>
    public ClipSearch? ClipSearch { get; }

    /// <inheritdoc/>
    public HessianKind RequiredHessian => HessianKind.None;

    /// <inheritdoc/>
    public QuantizedTensor Quantize(DenseMatrix weights, HessianEstimate? hessian, ComputeContext? compute = null, CancellationToken cancellationToken = default)
    {
        QuantizerInputs.Validate(weights, hessian, RequiredHessian, "RTN");
        int rows = weights.Rows, columns = weights.Columns, groups = Scheme.GroupCount(columns), width = Scheme.GroupWidth(columns);
        var codes = new byte[(long)rows * columns];
        var scales = new float[rows * groups];
        var zeros = new float[rows * groups];
        var data = weights.Data;
        float[] diag = hessian?.DiagonalArray ?? [];
        Parallel.For(0, rows, new ParallelOptions { CancellationToken = cancellationToken }, r =>
        {
            var row = data.Span.Slice(r * columns, columns);
            for (int g = 0; g < groups; g++)
            {
                int start = g * width, len = Math.Min(width, columns - start);
                var x = row.Slice(start, len);
                var (s, z) = ClipSearch is null
                    ? AffineGrid.Fit(x, Scheme)
                    : AffineGrid.FitWithSearch(x, diag.Length == 0 ? default : diag.AsSpan(start, len), Scheme, ClipSearch);
                scales[(r * groups) + g] = s;
                zeros[(r * groups) + g] = z;
                CpuKernels.QuantizeAffine(x, s, z, Scheme.MaxCode, codes.AsSpan((r * columns) + start, len));
            }
        });

        return new QuantizedTensor(Scheme, rows, columns, codes, scales, zeros, diagnostics: new QuantizationDiagnostics
        {
            Method = "rtn",
            Notes = ClipSearch is null ? [] : [diag.Length == 0 ? "clip search (unweighted)" : "clip search weighted by the Hessian diagonal"],
        });
    }
}
