using System.CommandLine;
using LowBitQuant.Cli.Commands;

var root = new RootCommand("lowbitquant: ultra-low-bit (2–4 bit) weight-only quantization of LLMs (RTN, GPTQ, DASH-Q, HeRo-Q).")
{
    DemoCommand.Create(),
    EvalCommand.Create(),
    GenerateCommand.Create(),
    HessianReportCommand.Create(),
    InspectCommand.Create(),
    QuantizeLayerCommand.Create(),
    QuantizeCommand.Create(),
};

return root.Parse(args).Invoke();
