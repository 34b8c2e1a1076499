using BenchmarkDotNet.Attributes;
using LowBitQuant.Quantizers;

namespace LowBitQuant.Benchmarks.Quantizers;

/// <summary>
/// DASH-Q of one layer (2 bits, group 32, the issue's setting) by the GPU kernel beside the CPU solver in the same run. On a machine
/// with a CUDA or OpenCL GPU the layer is <c>LOWBITQUANT_DASHQ_GPU_SIZE</c>² (default 4096) and the ratio is the figure to quote
/// (upload of W, launch, download included). Without one the kernel runs on ILGPU's CPU simulator on a 128² layer: that proves the
/// benchmark runs (CI smoke) and is not a speed figure (the simulator is 100–3000× slower than plain C#).
/// </summary>
public class DashQGpuBenchmarks
{
    private ComputeContext _gpu = null!;
    private bool _simulated;
    private int _size;
    private float[] _weights = [];
    private float[] _diagonal = [];
    private HessianEstimate _hessian = null!;
    private DashQOptions _options = null!;

    [GlobalSetup]
    public void Setup()
    {
        _gpu = ComputeContext.Create(ComputeDevice.Auto);
        _simulated = !_gpu.RunsOnGpu;
        if (_simulated)
        {
            _gpu = ComputeContext.CreateIlgpuCpuForTesting();
        }

        _size = _simulated ? 128 : int.Parse(Environment.GetEnvironmentVariable("LOWBITQUANT_DASHQ_GPU_SIZE") ?? "4096", System.Globalization.CultureInfo.InvariantCulture);
        Console.WriteLine($"// DASH-Q GPU benchmark on {_gpu.DeviceName}{(_simulated ? " (simulator: not a speed figure)" : string.Empty)}, {_size}²");
        var rng = new Random(42);
        _weights = new float[_size * _size];
        for (int i = 0; i < _weights.Length; i++)
        {
            _weights[i] = (float)(0.02 * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        }

        _diagonal = new float[_size];
        for (int j = 0; j < _size; j++)
        {
            _diagonal[j] = (float)Math.Exp(rng.NextDouble() * 4);
        }

        _hessian = HessianEstimate.FromDiagonal(_diagonal, 2048);
        _options = new DashQOptions(new QuantizationScheme(2, 32));
    }

    [GlobalCleanup]
    public void Cleanup() => _gpu.Dispose();

    /// <summary>The CPU solver (SIMD, all cores) on the same layer.</summary>
    [Benchmark(Baseline = true)]
    public QuantizedTensor Cpu() => new DashQQuantizer(_options).Quantize(new DenseMatrix(_weights, _size, _size), _hessian, ComputeContext.Cpu);

    /// <summary>The GPU kernel through the quantizer's dispatch (real GPU), or the GPU solver on the simulator.</summary>
    [Benchmark]
    public long Gpu() => _simulated
        ? DashQGpuSolver.Solve(_gpu.GpuKernels!, _weights, _size, _size, _diagonal, _options, CancellationToken.None).IterationsRun
        : new DashQQuantizer(_options).Quantize(new DenseMatrix(_weights, _size, _size), _hessian, _gpu).Codes.Length;
}
