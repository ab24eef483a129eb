import ForagerCore
import PGOutput

/// Waits until the warehouse checkpoint reaches `position`; says why not when it does not
/// within `wait`.
func waitForWarehouse(_ warehouse: any CheckpointReader, past position: LSN, wait: Duration) async throws -> String? {
    let deadline = ContinuousClock.now + wait
    while true {
        let checkpoint = try await warehouse.checkpoint()
        if let checkpoint, checkpoint >= position { return nil }
        if ContinuousClock.now >= deadline {
            return
                "the warehouse checkpoint \(checkpoint?.description ?? "none") did not reach the source position \(position) it was read at within \(Int(wait.seconds)) s: is forager run running?"
        }
        try await Task.sleep(for: .milliseconds(200))
    }
}
