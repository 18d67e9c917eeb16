using System.Globalization;
using PapaActors.Actors.Population;
using ScottPlot;

namespace PapaActors.Host;

/// <summary>PNG plots of a run folder's metrics.csv: training loss by step and held-out accuracy by epoch, per member.</summary>
internal static class RunPlots
{
    public static IReadOnlyList<string> Write(string folder)
    {
        var rows = File.ReadLines(Path.Combine(folder, RunRecorder.MetricsFile)).Skip(1)
            .Select(line => line.Split(','))
            .Select(f => (Member: int.Parse(f[0], CultureInfo.InvariantCulture), Epoch: int.Parse(f[2], CultureInfo.InvariantCulture),
                Step: double.Parse(f[3], CultureInfo.InvariantCulture), Loss: double.Parse(f[4], CultureInfo.InvariantCulture),
                HeldOut: f[6].Length > 0 ? double.Parse(f[6], CultureInfo.InvariantCulture) : (double?)null))
            .ToList();
        var members = rows.GroupBy(r => r.Member).OrderBy(g => g.Key).ToList();

        var loss = new Plot();
        var heldOut = new Plot();
        foreach (var member in members)
        {
            loss.Add.ScatterLine(member.Select(r => r.Step).ToArray(), member.Select(r => r.Loss).ToArray()).LegendText = $"member {member.Key}";
            var epochs = member.Where(r => r.HeldOut.HasValue).ToList();
            if (epochs.Count > 0)
                heldOut.Add.Scatter(epochs.Select(r => r.Epoch + 1.0).ToArray(), epochs.Select(r => r.HeldOut!.Value).ToArray()).LegendText = $"member {member.Key}";
        }
        loss.Title("Training loss");
        loss.XLabel("step");
        loss.YLabel("mean loss of the round");
        heldOut.Title("Held-out accuracy");
        heldOut.XLabel("epoch");
        heldOut.YLabel("accuracy");
        loss.ShowLegend();
        heldOut.ShowLegend();

        var paths = new[] { Path.Combine(folder, "loss.png"), Path.Combine(folder, "held-out-accuracy.png") };
        loss.SavePng(paths[0], 900, 500);
        heldOut.SavePng(paths[1], 900, 500);
        return paths;
    }
}
