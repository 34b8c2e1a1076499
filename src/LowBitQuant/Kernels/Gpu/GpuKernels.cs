using System.Numerics;
using ILGPU;
using ILGPU.Runtime;
using LowBitQuant.Hessian;
using LowBitQuant.Internal;

namespace LowBitQuant.Kernels.Gpu;

/// <summary>The GPU kernels of one ILGPU accelerator, each compiled once into a delegate. Owned by a <see cref="ComputeContext"/>.</summary>
internal sealed class GpuKernels : IDisposable
{
    /// <summary>Tokens per Gram launch: the float32 partial XᵀX of a chunk is added into the float64 host accumulator after each one.</summary>
    internal const int GramChunkTokens = 4096;

    private readonly Accelerator _accelerator;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> _gram;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<byte>, int, int> _quantize;
    private readonly Action<Index1D, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _dequantize;
    private readonly Action<Index1D, ArrayView<float>, int> _fwhtStage;
    private readonly Action<KernelConfig, ArrayView<float>, int> _fwhtShared;
    private readonly Lock _gate = new();
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<byte>, DashQKernelSettings>? _dashQ;
    private bool _disposed;

    public GpuKernels(Accelerator accelerator)
    {
        _accelerator = accelerator;
        _gram = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(GramKernel.Run);
        _quantize = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<byte>, int, int>(AffineKernel.Quantize);
        _dequantize = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(AffineKernel.Dequantize);
        _fwhtStage = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int>(FwhtKernel.Stage);
        _fwhtShared = accelerator.LoadStreamKernel<ArrayView<float>, int>(FwhtKernel.SharedRow);
    }

    /// <summary>Adds XᵀX of a finite tokens × n batch to the float64 upper-triangle accumulator, one float32 GPU partial per chunk of tokens.</summary>
    public void AccumulateGram(ReadOnlySpan<float> x, PackedGramAccumulator accumulator)
    {
        int n = accumulator.Columns;
        int tokens = x.Length / n;
        if (tokens == 0)
        {
            return;
        }

        int chunk = (int)Math.Max(1, Math.Min(Math.Min(GramChunkTokens, tokens), int.MaxValue / n));
        int tiles = (n + GramKernel.TileSize - 1) / GramKernel.TileSize;
        var partial = new float[(long)n * n];
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var xBuffer = _accelerator.Allocate1D<float>((long)chunk * n);
            using var cBuffer = _accelerator.Allocate1D<float>((long)n * n);
            for (int t0 = 0; t0 < tokens; t0 += chunk)
            {
                int count = Math.Min(chunk, tokens - t0);
                var rows = x.Slice(t0 * n, count * n);
                var xView = xBuffer.View.SubView(0, rows.Length);
                CopyIn(xView, rows);
                cBuffer.View.MemSetToZero();
                _gram(new KernelConfig(new Index2D(tiles, tiles), new Index2D(GramKernel.TileSize, GramKernel.TileSize)), xView, cBuffer.View, count, n);
                _accelerator.Synchronize();
                CopyOut(cBuffer.View, partial);
                AddUpper(partial, accumulator);
            }
        }
    }

    /// <summary>codes[i] = clamp(round(x[i] / s_g + frac(z_g)) + int(z_g), 0, maxCode) with g = i / groupSize.</summary>
    public void QuantizeAffine(ReadOnlySpan<float> x, ReadOnlySpan<float> scales, ReadOnlySpan<float> zeros, int groupSize, int maxCode, Span<byte> codes)
    {
        if (x.IsEmpty)
        {
            return;
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var xb = Upload(x);
            using var sb = Upload(scales);
            using var zb = Upload(zeros);
            using var cb = _accelerator.Allocate1D<byte>(x.Length);
            _quantize(x.Length, xb.View, sb.View, zb.View, cb.View, groupSize, maxCode);
            _accelerator.Synchronize();
            CopyOut(cb.View, codes[..x.Length]);
        }
    }

    /// <summary>destination[i] = s_g · (codes[i] − z_g) with g = i / groupSize.</summary>
    public void DequantizeAffine(ReadOnlySpan<byte> codes, ReadOnlySpan<float> scales, ReadOnlySpan<float> zeros, int groupSize, Span<float> destination)
    {
        if (codes.IsEmpty)
        {
            return;
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cb = _accelerator.Allocate1D<byte>(codes.Length);
            CopyIn(cb.View, codes);
            using var sb = Upload(scales);
            using var zb = Upload(zeros);
            using var db = _accelerator.Allocate1D<float>(codes.Length);
            _dequantize(codes.Length, cb.View, sb.View, zb.View, db.View, groupSize);
            _accelerator.Synchronize();
            CopyOut(db.View, destination[..codes.Length]);
        }
    }

    /// <summary>
    /// In-place unnormalised FWHT of every <paramref name="n"/>-long row of <paramref name="rows"/>, bit-identical to
    /// <c>CpuKernels.FwhtRows</c>: one shared-memory group per row for n ≤ <see cref="FwhtKernel.SharedMaxLength"/>
    /// (and n/2 within the accelerator's group size), else one
    /// launch per butterfly stage.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="n"/> is not a power of two or does not divide the length of <paramref name="rows"/>.</exception>
    public void Fwht(Span<float> rows, int n) => Fwht(rows, n, forceStaged: false);

    /// <summary>As <see cref="Fwht(Span{float}, int)"/>; <paramref name="forceStaged"/> runs the per-stage kernel at every n (for tests).</summary>
    internal void Fwht(Span<float> rows, int n, bool forceStaged)
    {
        if (n <= 0 || !BitOperations.IsPow2(n))
        {
            ThrowHelper.ThrowArgument(nameof(n), $"FWHT length {n} is not a power of two.");
        }

        if (rows.Length % n != 0)
        {
            ThrowHelper.ThrowArgument(nameof(rows), $"Length {rows.Length} is not a multiple of the FWHT length {n}.");
        }

        if (rows.IsEmpty || n == 1)
        {
            return; // H_1 = [1]: nothing to do.
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var buffer = Upload(rows);
            // The shared kernel needs a group of n/2 threads: CUDA allows 1024, smaller accelerators (ILGPU's CPU simulator) fewer.
            if (!forceStaged && n <= FwhtKernel.SharedMaxLength && n / 2 <= _accelerator.MaxNumThreadsPerGroup)
            {
                _fwhtShared(new KernelConfig(new Index1D(rows.Length / n), new Index1D(n / 2)), buffer.View, n);
            }
            else
            {
                for (int h = 1; h < n; h *= 2)
                {
                    _fwhtStage(rows.Length / 2, buffer.View, h);
                }
            }

            _accelerator.Synchronize();
            CopyOut(buffer.View, rows);
        }
    }

    /// <summary>
    /// DASH-Q of a whole rows × <see cref="DashQKernelSettings.Columns"/> layer, one thread per (row, group), bit-identical to the CPU
    /// solver (see <see cref="DashQKernel"/>). The kernel is compiled on first use.
    /// </summary>
    /// <param name="weights">Rows × columns weights, row-major.</param>
    /// <param name="p">Columns normalised per-group weights.</param>
    /// <param name="rows">Rows of the layer.</param>
    /// <param name="settings">Shape and solver settings.</param>
    /// <param name="codes">Rows × columns codes (out).</param>
    /// <param name="scales">Rows × groups scales (out).</param>
    /// <param name="zeros">Rows × groups zeros (out).</param>
    /// <param name="iterations">Rows × groups iterations run (out).</param>
    /// <param name="flags">Rows × groups <see cref="DashQKernel.ConstantFlag"/> | <see cref="DashQKernel.UnroundedFlag"/> (out).</param>
    public void SolveDashQ(ReadOnlySpan<float> weights, ReadOnlySpan<float> p, int rows, DashQKernelSettings settings, Span<byte> codes, Span<float> scales, Span<float> zeros, Span<int> iterations, Span<byte> flags)
    {
        int solves = checked(rows * settings.Groups);
        if (solves == 0)
        {
            return;
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _dashQ ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<byte>, DashQKernelSettings>(
                _accelerator.AcceleratorType == AcceleratorType.Cuda ? DashQKernel.Solve<DashQKernel.RoundedPtxProduct> : DashQKernel.Solve<DashQKernel.PlainProduct>);
            using var wb = Upload(weights);
            using var pb = Upload(p);
            using var cb = _accelerator.Allocate1D<byte>(weights.Length);
            using var sb = _accelerator.Allocate1D<float>(solves);
            using var zb = _accelerator.Allocate1D<float>(solves);
            using var ib = _accelerator.Allocate1D<int>(solves);
            using var fb = _accelerator.Allocate1D<byte>(solves);
            _dashQ(solves, wb.View, pb.View, cb.View, sb.View, zb.View, ib.View, fb.View, settings);
            _accelerator.Synchronize();
            CopyOut(cb.View, codes[..weights.Length]);
            CopyOut(sb.View, scales[..solves]);
            CopyOut(zb.View, zeros[..solves]);
            CopyOut(ib.View, iterations[..solves]);
            CopyOut(fb.View, flags[..solves]);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
        }
    }

    private MemoryBuffer1D<T, Stride1D.Dense> Upload<T>(ReadOnlySpan<T> values)
        where T : unmanaged
    {
        var buffer = _accelerator.Allocate1D<T>(values.Length);
        try
        {
            CopyIn(buffer.View, values);
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Copies <paramref name="source"/> into the start of <paramref name="target"/>. ILGPU's <c>CopyFromCPU(ref T, length)</c> takes the
    /// address of a <em>pinned</em> buffer (the copy may be an asynchronous DMA that reads it later); a span over a managed array is not
    /// pinned, so the GC could move the array mid-copy and the device would read stale memory. The span stays pinned here until the
    /// stream has finished the copy.
    /// </summary>
    private unsafe void CopyIn<T>(ArrayView1D<T, Stride1D.Dense> target, ReadOnlySpan<T> source)
        where T : unmanaged
    {
        if (source.IsEmpty)
        {
            return;
        }

        fixed (T* pointer = source)
        {
            target.SubView(0, source.Length).CopyFromCPU(ref *pointer, source.Length);
            _accelerator.DefaultStream.Synchronize();
        }
    }

    /// <summary>Copies the start of <paramref name="source"/> into <paramref name="target"/>, pinned until the copy has finished (see <see cref="CopyIn"/>).</summary>
    private unsafe void CopyOut<T>(ArrayView1D<T, Stride1D.Dense> source, Span<T> target)
        where T : unmanaged
    {
        if (target.IsEmpty)
        {
            return;
        }

        fixed (T* pointer = target)
        {
            source.SubView(0, target.Length).CopyToCPU(ref *pointer, target.Length);
            _accelerator.DefaultStream.Synchronize();
        }
    }

    private static void AddUpper(float[] partial, PackedGramAccumulator accumulator)
    {
        const int T = PackedGramAccumulator.Tile;
        int n = accumulator.Columns;
        var data = accumulator.Data;
        for (int row = 0; row < n; row++)
        {
            int ti = row / T, r = row % T;
            for (int column = row; column < n; column++)
            {
                data[accumulator.Offset(ti, column / T) + (r * T) + (column % T)] += partial[((long)row * n) + column];
            }
        }
    }
}
