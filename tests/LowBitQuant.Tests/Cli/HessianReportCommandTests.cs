using LowBitQuant.Cli.Commands;
using LowBitQuant.Formats.Safetensors;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Cli;

public sealed class HessianReportCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lbq-hreport-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ReportsFromAFileWithASequenceLengthTensor()
    {
        string path = Path.Combine(_dir, "case.safetensors");
        using (var w = SafetensorsWriter.Create(path))
        {
            w.AddSingle("inputs", [64, 6], ReferenceHessian.Activations(64, 6, seed: 1));
            w.AddInt32("sequence_length", [1], [16]);
            w.Save();
        }

        var output = new StringWriter();
        var old = Console.Out;
        Console.SetOut(output);
        try
        {
            Assert.Equal(0, HessianReportCommand.Run(new FileInfo(path), null, json: true, CancellationToken.None));
        }
        finally
        {
            Console.SetOut(old);
        }

        Assert.Contains("\"sequences\": 4", output.ToString());
        Assert.Contains("\"dead_channels\": 0", output.ToString());
    }

    [Fact]
    public void RejectsASequenceLengthThatDoesNotDivideTheTokens()
    {
        string path = Path.Combine(_dir, "bad.safetensors");
        using (var w = SafetensorsWriter.Create(path))
        {
            w.AddSingle("inputs", [10, 2], new float[20]);
            w.Save();
        }

        var ex = Assert.Throws<ArgumentException>(() => HessianReportCommand.Run(new FileInfo(path), 3, json: true, CancellationToken.None));
        Assert.Contains("--sequence-length", ex.Message);
    }
}
