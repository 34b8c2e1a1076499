namespace LowBitQuant.Tests;

public class ComputeContextTests
{
    [Fact]
    public void CpuRequestGivesTheSharedSimdContext()
    {
        var c = ComputeContext.Create(ComputeDevice.Cpu);
        Assert.Same(ComputeContext.Cpu, c);
        Assert.False(c.IsAccelerated);
        Assert.Null(c.GpuKernels);
    }

    [Fact]
    public void AutoNeverPicksTheIlgpuCpuSimulatorAndGpuFailsCleanlyWithoutOne()
    {
        using var auto = ComputeContext.Create(ComputeDevice.Auto);
        if (auto.IsAccelerated)
        {
            Assert.DoesNotContain("CPU", auto.DeviceName.Split(':')[0]);
            return;
        }

        Assert.Same(ComputeContext.Cpu, auto);
        var ex = Assert.Throws<NotSupportedException>(() => ComputeContext.Create(ComputeDevice.Gpu));
        Assert.Contains("GPU", ex.Message);
    }

    [Fact]
    public void UndefinedDeviceIsRejected()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => ComputeContext.Create((ComputeDevice)7));
        Assert.Equal("device", ex.ParamName);
    }
}
